"""The pretrain stage's corpus: the train split's and the unlabeled reviews' token ids, and for
every step of every review the words its forward and backward states have read, so each step's
targets (the bag of the next / previous unread words) are cut from arrays, a batch at a time
(imdb_rnn.models.pretraining trains on it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imdb_rnn.data.splits import load_padded
from imdb_rnn.data.text import OOV_ID, PAD_ID, Vocabulary
from imdb_rnn.runtime.errors import PipelineError

NO_TARGET = -1


def word_ids(vocabulary: Vocabulary, targets: int) -> tuple[np.ndarray, np.ndarray]:
    """For every vocabulary id: whether it is a single word (OOV included: it stands for one word;
    not a pair, not padding), and its target index (the rank among the most frequent `targets` words:
    the vocabulary is ranked by frequency), or NO_TARGET for padding, OOV, word pairs and rarer words."""
    is_word = np.array([index >= OOV_ID and " " not in token for index, token in enumerate(vocabulary.tokens)])
    target = np.full(len(vocabulary), NO_TARGET, "int32")
    words = np.flatnonzero(is_word[OOV_ID + 1 :])[:targets] + OOV_ID + 1
    target[words] = np.arange(len(words), dtype="int32")
    return is_word, target


@dataclass
class Corpus:
    """Reviews as term ids, left-aligned (row, step), with for every step the words it has read:
    `seen_to` the index (in the review's words) of the last word the forward GRU has read there,
    `seen_from` the first word the backward GRU has read; `words` the review's words as target indices."""

    ids: np.ndarray  # (reviews, steps) int32, padding (0) at the end
    lengths: np.ndarray  # (reviews,) terms
    seen_to: np.ndarray  # (reviews, steps) int16
    seen_from: np.ndarray  # (reviews, steps) int16
    words: np.ndarray  # (reviews, max words) int32 target index or NO_TARGET
    word_counts: np.ndarray  # (reviews,) words

    @property
    def terms(self) -> int:
        return int(self.lengths.sum())


def build_corpus(x: np.ndarray, vocabulary: Vocabulary, targets: int, block: int = 5000) -> Corpus:
    """The Corpus of padded reviews `x` (pre or post padding), in blocks of rows to bound memory."""
    word, target = word_ids(vocabulary, targets)
    parts = []
    for start in range(0, len(x), block):
        rows = np.asarray(x[start : start + block], "int32")
        rows = np.take_along_axis(rows, np.argsort(rows == PAD_ID, axis=1, kind="stable"), axis=1)  # left-aligned
        present = rows != PAD_ID
        is_word = word[rows] & present
        index = np.cumsum(is_word, axis=1) - 1  # the last word read so far (a pair follows the word it ends)
        first = index - (~is_word & present)  # a pair "a b" also holds the word before
        first = np.where(present, first, np.iinfo("int16").max)
        seen_from = np.minimum.accumulate(first[:, ::-1], axis=1)[:, ::-1]  # what the backward GRU has read
        word_counts = is_word.sum(axis=1)
        order = np.argsort(~is_word, axis=1, kind="stable")  # each review's words first, in order
        words = target[np.take_along_axis(rows, order, axis=1)]
        words = np.where(np.arange(rows.shape[1]) < word_counts[:, None], words, NO_TARGET)
        parts.append(
            (
                rows,
                present.sum(axis=1),
                index.astype("int16"),
                np.maximum(seen_from, -1).astype("int16"),
                words.astype("int32"),
                word_counts,
            )
        )
    if not parts:
        raise PipelineError("pretrain: no reviews to pretrain on")
    return Corpus(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def chunk_starts(corpus: Corpus, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, first step) of every chunk of `chunk` terms the reviews are cut into."""
    pieces = -(-corpus.lengths // chunk)  # ceil
    rows = np.repeat(np.arange(len(corpus.lengths)), pieces)
    starts = (np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)) * chunk
    return rows, starts


def batch(corpus: Corpus, rows: np.ndarray, starts: np.ndarray, chunk: int, window: int):
    """(ids (b, chunk), forward targets (b, chunk, window), backward targets (b, chunk, window)):
    at each step the target indices of the next / previous `window` unread words, NO_TARGET where
    there is none (end of review, padding, a rare word)."""
    steps = starts[:, None] + np.arange(chunk)
    present = steps < corpus.lengths[rows, None]
    steps = np.minimum(steps, corpus.ids.shape[1] - 1)
    grid = rows[:, None]
    ids = np.where(present, corpus.ids[grid, steps], PAD_ID)
    offsets = np.arange(window)
    after = corpus.seen_to[grid, steps][..., None].astype("int32") + 1 + offsets
    before = corpus.seen_from[grid, steps][..., None].astype("int32") - 1 - offsets
    cube = rows[:, None, None]
    width = corpus.words.shape[1]
    forward = np.where(after < corpus.word_counts[cube], corpus.words[cube, np.minimum(after, width - 1)], NO_TARGET)
    backward = np.where(before >= 0, corpus.words[cube, np.clip(before, 0, width - 1)], NO_TARGET)
    keep = present[..., None]
    return ids, np.where(keep, forward, NO_TARGET), np.where(keep, backward, NO_TARGET)


def negative_distribution(corpus: Corpus, targets: int) -> np.ndarray:
    """P(target) for negative sampling: each target word's count in the corpus to the power 0.75."""
    counts = np.bincount(corpus.words[corpus.words >= 0], minlength=targets).astype("float64")
    weights = (counts + 1.0) ** 0.75
    return weights / weights.sum()


def token_ids(train_npz: Path, unlabeled_dir: Path, limit: int) -> np.ndarray:
    """The padded token ids (rows x max_len) pretrained on: the train split's reviews, then the
    unlabeled ones (if the unlabeled stage labeled any), each cut to `limit` reviews if set."""
    x_train, _ = load_padded(train_npz)
    x_more, _ = load_padded(unlabeled_dir / "labeled_by_teacher.npz", labels="p")
    if limit:
        x_train, x_more = x_train[:limit], x_more[:limit]
    return x_train if not len(x_more) else np.concatenate([x_train, x_more])

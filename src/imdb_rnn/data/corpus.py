"""The pretrain stage's corpus (imdb_rnn.models.pretraining): token ids, and for every step the words
its forward and backward states have read, so each step's targets (the bag of the next / previous
unread words) are cut from arrays a batch at a time. Targets are words (never word pairs), only the
`targets` most frequent, never one already read (a pair "a b" read by the backward GRU reveals "a")."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imdb_rnn.data.splits import load_padded
from imdb_rnn.data.text import OOV_ID, PAD_ID, Vocabulary
from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.params import PretrainParams

NO_TARGET = -1


def chunk_batches(x: np.ndarray, vocabulary: Vocabulary, params: PretrainParams, block: int = 5000):
    """A keras.utils.PyDataset of the padded reviews `x` (pre or post padding) cut into chunks of `chunk` terms, in the
    seeded order of plan(epoch) (the last partial batch left out: one compiled shape). A batch: ((ids, forward targets,
    backward targets, negatives),), the `window` next / previous unread words' target indices (NO_TARGET where none) and
    `negatives` drawn from the targets' counts to the power 0.75. `terms`: the reviews' terms (padding excluded)."""
    import keras

    # A single word (OOV too: it stands for one) and its target index, the rank among the most
    # frequent `targets` words (the vocabulary is ranked by frequency), else NO_TARGET.
    word = np.array([index >= OOV_ID and " " not in token for index, token in enumerate(vocabulary.tokens)])
    target = np.full(len(vocabulary), NO_TARGET, "int32")
    ranked = np.flatnonzero(word[OOV_ID + 1 :])[: params.targets] + OOV_ID + 1
    target[ranked] = np.arange(len(ranked), dtype="int32")
    parts = []
    for start in range(0, len(x), block):  # in blocks of rows, to bound memory
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
        seen = (index.astype("int16"), np.maximum(seen_from, -1).astype("int16"))
        parts.append((rows, present.sum(axis=1), *seen, words.astype("int32"), word_counts))
    if not parts:
        raise PipelineError("pretrain: no reviews to pretrain on")
    # Term ids left-aligned (review, step), terms per review; at each step the index (among the review's
    # words) of the last word the forward GRU has read and of the first the backward GRU has read; each
    # review's words as target indices (NO_TARGET for rare ones), words per review.
    ids, lengths, seen_to, seen_from, words, word_counts = (np.concatenate(c) for c in zip(*parts, strict=True))
    chunk, window = params.chunk, params.window
    pieces = -(-lengths // chunk)  # ceil
    rows, starts = np.nonzero(np.arange(pieces.max(initial=0)) < pieces[:, None])  # each chunk's review and number
    starts = starts * chunk
    terms = np.minimum(chunk, lengths[rows] - starts)
    counts = np.bincount(words[words >= 0], minlength=params.targets) + 1.0
    distribution = counts**0.75 / (counts**0.75).sum()

    class ChunkBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.terms = int(lengths.sum())
            self.plan(0)

        def plan(self, epoch: int) -> None:
            """This epoch's batches (chunk indices), their negatives and their terms (`tokens`)."""
            rng = np.random.default_rng([params.seed, epoch])
            order = rng.permutation(len(rows))
            order = np.resize(order, max(len(order), params.batch_size))  # a tiny corpus: chunks repeated
            self.batches = order[: len(self) * params.batch_size].reshape(len(self), params.batch_size)
            self.negatives = rng.choice(params.targets, (len(self), params.negatives), p=distribution).astype("int32")
            self.tokens = terms[self.batches].sum(axis=1)

        def __len__(self) -> int:
            return max(1, len(rows) // params.batch_size)

        def __getitem__(self, index: int):
            row, start = rows[self.batches[index]], starts[self.batches[index]]
            steps = start[:, None] + np.arange(chunk)
            present = steps < lengths[row, None]
            steps, grid, cube = np.minimum(steps, ids.shape[1] - 1), row[:, None], row[:, None, None]
            after = seen_to[grid, steps][..., None].astype("int32") + 1 + np.arange(window)
            before = seen_from[grid, steps][..., None].astype("int32") - 1 - np.arange(window)
            last = words.shape[1] - 1
            forward = np.where(after < word_counts[cube], words[cube, np.minimum(after, last)], NO_TARGET)
            backward = np.where(before >= 0, words[cube, np.clip(before, 0, last)], NO_TARGET)
            keep = present[..., None]
            targets = (np.where(keep, forward, NO_TARGET), np.where(keep, backward, NO_TARGET))
            return ((np.where(present, ids[grid, steps], PAD_ID), *targets, self.negatives[index]),)

    return ChunkBatches()


def token_ids(train_npz: Path, unlabeled_dir: Path, limit: int) -> np.ndarray:
    """The padded token ids (rows x max_len) pretrained on: the train split's reviews, then the
    unlabeled ones (if the unlabeled stage labeled any), each cut to `limit` reviews if set."""
    x_train, _ = load_padded(train_npz)
    x_more, _ = load_padded(unlabeled_dir / "labeled_by_teacher.npz", labels="p")
    x_train, x_more = x_train[: limit or None], x_more[: limit or None]
    return x_train if not len(x_more) else np.concatenate([x_train, x_more])

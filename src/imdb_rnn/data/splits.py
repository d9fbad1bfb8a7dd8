"""Reading the pipeline's data files: the split reviews (parquet) and the padded splits (npz)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from imdb_rnn.data.text import Vocabulary, first_sentence
from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.outputs import atomic_path

SPLITS = ("train", "val", "test")
SHORT_SPLIT = "test_short"  # the first sentence of each test review, with its label


def short_reviews(test: pd.DataFrame) -> pd.DataFrame:
    """The test split cut to each review's first sentence."""
    return test.assign(text=test["text"].map(first_sentence))


def read_split(split_dir: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """data/split/<name>.parquet (text, label, ...)."""
    path = Path(split_dir) / f"{name}.parquet"
    try:
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{path}: cannot read: {exc}") from None


def load_padded(path: Path, labels: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """data/padded/<split>.npz: (token ids, labels); `labels` "p" for a teacher's probabilities."""
    try:
        with np.load(path) as data:
            x, y = data["x"], data[labels]
    # A file cut short (a full disk, a copy interrupted) is a BadZipFile, or an EOFError/ValueError
    # in a member; a file that is not an .npz at all (pickled) is refused by allow_pickle=False.
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise PipelineError(f"{path}: not a padded split: {exc}") from None
    if x.ndim != 2 or x.dtype.kind not in "iu" or len(x) != len(y):
        raise PipelineError(
            f"{path}: not a padded split: expected integer token ids (rows x max_len) and one label per row, "
            f"got x {x.dtype}{list(x.shape)} and {labels} {list(y.shape)}"
        )
    return x, y


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as stream:  # a file object: np.savez would append .npz
        np.savez(stream, **arrays)


@dataclass(frozen=True)
class TrainingData:
    """What train reads: the train split, with `unlabeled_weight` > 0 followed by the reviews the
    unlabeled stage's teacher labeled (its probability as the target, `weights` their weight in the
    loss; None: all 1), the validation split and the vocabulary."""

    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray
    vocabulary: Vocabulary

    @classmethod
    def load(cls, data_dir: Path, unlabeled_dir: Path, unlabeled_weight: float) -> TrainingData:
        (x, y), weights = load_padded(data_dir / "train.npz"), None
        if unlabeled_weight:
            x_more, p_more = load_padded(unlabeled_dir / "labeled_by_teacher.npz", labels="p")
            weights = np.concatenate([np.ones(len(x), "float32"), np.full(len(x_more), unlabeled_weight, "float32")])
            x, y = np.concatenate([x, x_more]), np.concatenate([y.astype("float32"), p_more])
        return cls(x, y, weights, *load_padded(data_dir / "val.npz"), Vocabulary.load(data_dir / "vocab.json"))

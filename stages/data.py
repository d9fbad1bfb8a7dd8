"""Reading the pipeline's data files: the split reviews (parquet) and the padded splits (npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stages.common import PipelineError

SPLITS = ("train", "val", "test")
SHORT_SPLIT = "test_short"  # the first sentence of each test review, with its label


def short_reviews(test: pd.DataFrame) -> pd.DataFrame:
    """The test split cut to each review's first sentence (stages.text.first_sentence)."""
    from stages.text import first_sentence

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
            return data["x"], data[labels]
    except (OSError, ValueError, KeyError) as exc:
        raise PipelineError(f"{path}: not a padded split: {exc}") from None

"""split: the official training reviews -> stratified, seeded train/validation; test stays test."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from imdb_rnn.runtime.errors import PipelineError, run
from imdb_rnn.runtime.outputs import atomic_path
from imdb_rnn.runtime.params import SplitParams, load_params

PARAMS = ("split",)  # dvc.yaml's params of this stage (a test compares)

COLUMNS = ["review_id", "rating", "label", "text"]


def split(params: SplitParams, raw: Path, out_dir: Path) -> None:
    try:
        reviews = pd.read_parquet(raw)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{raw}: cannot read: {exc}") from None
    official_train = reviews[reviews["split"] == "train"][COLUMNS]
    if params.train_size + params.val_size > len(official_train):
        raise PipelineError(
            f"{raw}: only {len(official_train):,} training reviews for split.train_size + split.val_size"
        )
    train, val = train_test_split(
        official_train,
        train_size=params.train_size,
        test_size=params.val_size,
        stratify=official_train["label"],
        random_state=params.seed,
    )
    parts = {"train": train, "val": val, "test": reviews[reviews["split"] == "test"][COLUMNS]}
    for name, frame in parts.items():
        with atomic_path(out_dir / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="reviews.parquet from fetch")
    parser.add_argument("out_dir", type=Path, help="folder for train/val/test.parquet")
    args = parser.parse_args()
    split(load_params(keys=PARAMS).split, args.raw, args.out_dir)


if __name__ == "__main__":
    run(main)

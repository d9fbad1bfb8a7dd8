"""How well can a model score a review from its first sentence alone? The ceiling behind test_short.

evaluate's test_short is each test review's first sentence (up to 30 words) with the whole review's
label; many first sentences carry no sentiment ("I rented this last week."). This fits the NBSVM
yardstick three ways (on whole train reviews, on their first sentences, on both) and scores each on
the validation split whole and cut to first sentences, side by side: the gap between `val` and
`val_short` that no training data closes is the part of the test/test_short gap that comes from the
short input itself. Validation only: test is never read here.

  python -m benchmarks.short_reviews --split-dir data/split
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from imdb_rnn.data.splits import read_split, short_reviews
from imdb_rnn.models.baselines import build_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split-dir", type=Path, default=Path("data/split"))
    parser.add_argument("--ngram-max", type=int, default=3)
    args = parser.parse_args()
    train = read_split(args.split_dir, "train", ["text", "label"])
    val = read_split(args.split_dir, "val", ["text", "label"])
    train_short, val_short = short_reviews(train), short_reviews(val)
    print(
        f"first sentences: {train_short['text'].str.split().str.len().mean():.1f} words on average "
        f"(whole reviews {train['text'].str.split().str.len().mean():.0f})"
    )
    fits = {
        "whole reviews": train,
        "first sentences": train_short,
        "both": pd.concat([train, train_short], ignore_index=True),
    }
    rows = []
    for name, frame in fits.items():
        start = time.perf_counter()
        model = build_classifier(
            "nbsvm", args.ngram_max, min_df=1, max_features=None, C=1.0, max_iter=1000, seed=0
        ).fit(frame["text"], frame["label"])
        scores = {
            split: float((model.predict(data["text"]) == data["label"]).mean())
            for split, data in (("val", val), ("val_short", val_short))
        }
        rows.append(
            {
                "NBSVM fit on": name,
                **scores,
                "gap (points)": 100 * (scores["val"] - scores["val_short"]),
                "seconds": time.perf_counter() - start,
            }
        )
        print(rows[-1], flush=True)
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()

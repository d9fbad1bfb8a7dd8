"""split: the official training reviews -> stratified, seeded train/validation; test stays test.

`split.group_by: movie` (the default) keeps each movie's reviews on one side, as the official test
reviews are of other movies: a validation split of the training movies would reward knowing the movie.
`none`: a random cut."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from imdb_rnn.runtime.errors import PipelineError, run
from imdb_rnn.runtime.outputs import atomic_path
from imdb_rnn.runtime.params import SplitParams, load_params

PARAMS = ("split",)  # dvc.yaml's params of this stage (a test compares)

COLUMNS = ["review_id", "rating", "label", "text", "movie"]


def split_by_movie(
    reviews: pd.DataFrame, train_size: int, val_size: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, val) of exactly `train_size` and `val_size` reviews, no movie on both sides, each side
    stratified, seeded. Whole movies in a seeded order, each taken if it fits both label counts the
    side still wants (validation first); a gap left is closed by one swap (a taken movie out, a free
    one with exactly the gap more in), failing that by part of one free movie (its rest goes to neither
    side). Exact on the official reviews for each of 300 seeds tried; refused if no movie can close it."""
    # One row per movie (sorted by id, so the seed alone fixes the order): its negatives, its positives.
    counts = reviews.groupby(["movie", "label"]).size().unstack(fill_value=0).reindex(columns=[0, 1], fill_value=0)
    table, movies = counts.to_numpy(), reviews["movie"].to_numpy()
    rng = np.random.default_rng(seed)
    order, share = rng.permutation(len(table)), reviews["label"].mean()
    free = np.ones(len(table), bool)
    sides = []
    for name, size in (("val", val_size), ("train", train_size)):
        left = table[free].sum(axis=0)  # clipped: validation's rounding must leave train its count
        positives = min(max(round(size * share), size - left[0]), left[1])
        wanted = np.array([size - positives, positives])
        taken = np.zeros(len(table), bool)
        for movie in order:
            if free[movie] and (table[movie] <= wanted).all():
                taken[movie], free[movie] = True, False
                wanted -= table[movie]
        if wanted.any():
            ins, outs = np.flatnonzero(free), np.flatnonzero(taken)
            swaps = np.argwhere((table[ins][None] - table[outs][:, None] == wanted).all(axis=2))
            if len(swaps):
                out, into = outs[swaps[0][0]], ins[swaps[0][1]]
                taken[[out, into]], free[[out, into]], wanted = [False, True], [True, False], wanted * 0
        chosen = np.isin(movies, counts.index[taken])
        if wanted.any():
            cover = next((movie for movie in order if free[movie] and (table[movie] >= wanted).all()), None)
            if cover is None:
                raise PipelineError(
                    f"split.{name}_size {size:,}: whole movies fall {wanted.sum()} reviews short "
                    f"(split.seed {seed}); try another split.seed or size"
                )
            free[cover] = False
            for label, count in enumerate(wanted):
                rows = np.flatnonzero((movies == counts.index[cover]) & (reviews["label"].to_numpy() == label))
                chosen[rng.choice(rows, count, replace=False)] = True
        side = reviews[chosen]
        sides.append(side.iloc[rng.permutation(len(side))])  # shuffled, as a random cut is
    val, train = sides
    return train, val


def split(params: SplitParams, raw: Path, out_dir: Path) -> None:
    try:
        reviews = pd.read_parquet(raw)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{raw}: cannot read: {exc}") from None
    if "movie" not in reviews:
        reviews["movie"] = None  # a reviews.parquet fetched before movies were kept
    official_train = reviews[reviews["split"] == "train"][COLUMNS]
    if params.train_size + params.val_size > len(official_train):
        raise PipelineError(
            f"{raw}: only {len(official_train):,} training reviews for split.train_size + split.val_size"
        )
    if params.group_by == "none":
        sizes = {"train_size": params.train_size, "test_size": params.val_size}
        train, val = train_test_split(
            official_train, **sizes, stratify=official_train["label"], random_state=params.seed
        )
    elif missing := official_train["movie"].isna().sum():
        raise PipelineError(
            f"{raw}: no movie for {missing:,} training reviews (the archive lacks aclImdb/train/urls_*.txt): "
            "split.group_by: movie needs them, split.group_by: none cuts at random"
        )
    else:
        train, val = split_by_movie(official_train, params.train_size, params.val_size, params.seed)
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

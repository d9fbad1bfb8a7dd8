"""fetch: the Large Movie Review Dataset archive -> data/raw/reviews.parquet (the 50,000 labeled
reviews) and data/raw/unlabeled.parquet (the 50,000 unlabeled ones, train/unsup in the archive):
IMDB_ARCHIVE if set, else `fetch.url` downloaded once into IMDB_CACHE (imdb_rnn.data.archive)."""

from __future__ import annotations

import argparse
from pathlib import Path

from imdb_rnn.data.archive import locate_archive, read_reviews
from imdb_rnn.runtime.errors import run
from imdb_rnn.runtime.outputs import atomic_path
from imdb_rnn.runtime.params import load_params

PARAMS = ("fetch",)  # dvc.yaml's params of this stage (a test compares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labeled_out", type=Path, help="parquet file for the labeled reviews")
    parser.add_argument("unlabeled_out", type=Path, help="parquet file for the unlabeled reviews")
    args = parser.parse_args()
    params = load_params(keys=PARAMS).fetch
    reviews = read_reviews(locate_archive(params), per_folder=params.reviews_per_folder)
    with atomic_path(args.labeled_out) as labeled_tmp, atomic_path(args.unlabeled_out) as unlabeled_tmp:
        reviews.labeled.to_parquet(labeled_tmp, index=False)
        reviews.unlabeled.to_parquet(unlabeled_tmp, index=False)


if __name__ == "__main__":
    run(main)

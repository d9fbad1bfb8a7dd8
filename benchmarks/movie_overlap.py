"""Do validation reviews score higher because their movies are in the train split? The val/test gap.

With `split.group_by: none` the 5,000 validation reviews are cut at random from the official train
reviews, so most share a movie with the 20,000 training reviews (grouped by movie, the default, none
do); the official test reviews are of other movies. If a model scored validation higher by knowing
those movies (names, titles), it would score the validation reviews of *unseen* movies lower than
those of seen ones by more than NBSVM does. This reads the movie of each review from the archive's
urls_*.txt (line i: the review with id i), fits the NBSVM yardstick on the train split, scores the
validation split by group, and with --model also the trained RNN. Validation only: test is never
read here.

  python -m benchmarks.movie_overlap --archive ../shared/data/aclImdb_v1_with_unsup.tar.gz \
      --split-dir data/split --model models/model.keras --padded data/padded/val.npz
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
from pathlib import Path

from imdb_rnn.data.splits import load_padded, read_split
from imdb_rnn.models.baselines import build_classifier

MOVIE = re.compile(r"title/(tt\d+)")


def train_movies(archive: Path) -> dict[tuple[int, int], str]:
    """(label, review id) of each official train review -> its IMDb title id."""
    movies = {}
    with tarfile.open(archive) as tar:
        for label, folder in ((1, "pos"), (0, "neg")):
            urls = tar.extractfile(f"aclImdb/train/urls_{folder}.txt").read().decode().split()
            movies.update({(label, review_id): MOVIE.search(url).group(1) for review_id, url in enumerate(urls)})
    return movies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, required=True)
    parser.add_argument("--split-dir", type=Path, default=Path("data/split"))
    parser.add_argument("--model", type=Path, help="a trained models/model.keras to score as well")
    parser.add_argument("--padded", type=Path, default=Path("data/padded/val.npz"))
    args = parser.parse_args()
    movies = train_movies(args.archive)
    columns = ["review_id", "label", "text"]
    train, val = read_split(args.split_dir, "train", columns), read_split(args.split_dir, "val", columns)
    seen = {movies[key] for key in zip(train["label"], train["review_id"], strict=False)}
    val["movie in train"] = [movies[key] in seen for key in zip(val["label"], val["review_id"], strict=False)]
    nbsvm = build_classifier("nbsvm", 3, min_df=1, max_features=None, C=1.0, max_iter=1000, seed=0)
    val["NBSVM"] = nbsvm.fit(train["text"], train["label"]).predict(val["text"]) == val["label"]
    scored = ["NBSVM"]
    if args.model:
        import keras  # after the stages' imports: KERAS_BACKEND as the environment says

        tokens, labels = load_padded(args.padded)
        if not (labels == val["label"].to_numpy()).all():
            sys.exit(f"{args.padded}: not the validation split of {args.split_dir}")
        probabilities = keras.models.load_model(args.model, compile=False).predict(tokens, batch_size=512, verbose=0)
        val["RNN"] = (probabilities.ravel() > 0.5) == val["label"]
        scored.append("RNN")
    table = val.groupby("movie in train")[scored].mean()
    table.insert(0, "reviews", val.groupby("movie in train").size())
    print(f"{len(seen)} movies in the train split; validation reviews of them: {val['movie in train'].mean():.1%}")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()

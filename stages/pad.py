"""pad: reviews -> token ids padded to a fixed length (and test_short: each test review's first
sentence); the vocabulary is fit on train only."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from imdb_rnn.data.splits import SHORT_SPLIT, SPLITS, read_split, short_reviews
from imdb_rnn.data.text import Vocabulary, texts_to_padded
from imdb_rnn.runtime.errors import choose_backend, run
from imdb_rnn.runtime.outputs import staged_outputs
from imdb_rnn.runtime.params import PadParams, load_params

PARAMS = ("pad",)  # dvc.yaml's params of this stage (a test compares)

VOCABULARY_FILE = "vocab.json"


def pad(params: PadParams, split_dir: Path, out_dir: Path) -> None:
    frames = {name: read_split(split_dir, name, ["text", "label"]) for name in SPLITS}
    frames[SHORT_SPLIT] = short_reviews(frames["test"])
    vocabulary = Vocabulary.fit(frames["train"]["text"], **params.model_dump())
    # All or nothing: a full disk halfway leaves the previous padded splits and vocabulary, together.
    with staged_outputs(*(out_dir / f"{name}.npz" for name in frames), out_dir / VOCABULARY_FILE) as staged:
        for frame, path in zip(frames.values(), staged, strict=False):
            # One split padded at a time (a variable would keep it alive while the next one is built):
            # params' memory estimate counts the largest split.
            with path.open("wb") as stream:  # np.savez would add .npz to a path
                np.savez(stream, x=texts_to_padded(frame["text"], vocabulary), y=frame["label"].to_numpy(dtype="int32"))
        vocabulary.save(staged[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("split_dir", type=Path, help="folder with train/val/test.parquet")
    parser.add_argument("out_dir", type=Path, help="folder for train/val/test.npz and vocab.json")
    args = parser.parse_args()
    # Only keras.utils.pad_sequences is used here: the numpy backend spares a deep-learning import.
    choose_backend("numpy", "pad")
    pad(load_params(keys=PARAMS).pad, args.split_dir, args.out_dir)


if __name__ == "__main__":
    run(main)

"""The reference: the seed model as a user writes it by hand, Keras defaults on the TensorFlow backend.

    python -m benchmarks.bare_fit data/padded --epochs 2 --json bare.json

Reads the pipeline's padded reviews (train.npz, val.npz, vocab.json) and fits
Embedding(vocabulary, 32) -> SimpleRNN(32) -> Dense(1, sigmoid) with rmsprop, batch 32: no XLA,
no tf.data, nothing tuned. Prints (or writes) the seconds of each epoch and the validation accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ["KERAS_BACKEND"] = "tensorflow"  # the backend is fixed when Keras is first imported
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from keras import layers


class EpochTimer(keras.callbacks.Callback):
    """Seconds from the start of each epoch to its end (validation included), as stages.train times them."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="the pad stage's output folder")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="write the result here instead of printing it")
    args = parser.parse_args()

    with np.load(args.data_dir / "train.npz") as data:
        x_train, y_train = data["x"], data["y"]
    with np.load(args.data_dir / "val.npz") as data:
        x_val, y_val = data["x"], data["y"]
    vocabulary_size = len(json.loads((args.data_dir / "vocab.json").read_text())["tokens"])

    keras.utils.set_random_seed(args.seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(x_train.shape[1],), dtype="int32"),
            layers.Embedding(vocabulary_size, 32),
            layers.SimpleRNN(32),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=args.epochs,
        batch_size=args.batch_size,
        callbacks=[timer],
        verbose=2,
    )
    result = {
        "backend": keras.backend.backend(),
        "epoch_seconds": [round(s, 3) for s in timer.seconds],
        "val_accuracy": [float(v) for v in history.history["val_accuracy"]],
    }
    text = json.dumps(result, indent=2) + "\n"
    if args.json:
        args.json.write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()

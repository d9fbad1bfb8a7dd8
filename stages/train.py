"""train: padded reviews -> a Keras recurrent classifier, logged to a new MLflow run."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from stages import plots, tracking
from stages.common import PipelineError, TrainParams, atomic_path, load_params, read_params_file, run, write_text_atomic
from stages.text import Vocabulary

RNN_LAYERS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def load_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as data:
            return data["x"], data["y"]
    except (OSError, ValueError, KeyError) as exc:
        raise PipelineError(f"{path}: not a padded split: {exc}") from None


def use_backend(name: str, seed: int) -> None:
    """Select the Keras backend (before Keras is first imported) and make training repeatable."""
    os.environ["KERAS_BACKEND"] = name
    import keras

    if keras.backend.backend() != name:
        raise PipelineError(f"train.backend: Keras was already loaded with {keras.backend.backend()!r}")
    keras.utils.set_random_seed(seed)
    if name == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def build_model(params: TrainParams, vocabulary_size: int, max_len: int):
    """Embedding -> `layers` recurrent layers (optionally bidirectional) -> Dense(1, sigmoid).
    The defaults give the classic Embedding(10000, 32) -> SimpleRNN(32) -> Dense(1)."""
    import keras
    from keras import layers

    rnn = getattr(layers, RNN_LAYERS[params.cell])
    model = keras.Sequential(name=f"imdb_{params.cell}")
    model.add(keras.Input(shape=(max_len,), dtype="int32"))
    model.add(layers.Embedding(vocabulary_size, params.embedding_dim, mask_zero=params.mask_padding))
    for index in range(params.layers):
        cell = rnn(
            params.units,
            dropout=params.dropout,
            recurrent_dropout=params.recurrent_dropout,
            return_sequences=index < params.layers - 1,
        )
        model.add(layers.Bidirectional(cell) if params.bidirectional else cell)
    model.add(layers.Dense(1, activation="sigmoid"))
    optimizer = keras.optimizers.get({"class_name": params.optimizer, "config": {"learning_rate": params.learning_rate}})
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return model


def epoch_logger():
    """A Keras callback timing each epoch and logging its metrics to the active MLflow run
    (step = epoch, counted from 1 like metrics/history.csv)."""
    import keras

    class EpochLogger(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)
            metrics = {name: float(value) for name, value in (logs or {}).items()}
            tracking.mlflow.log_metrics({**metrics, "epoch_seconds": self.seconds[-1]}, step=epoch + 1)

    return EpochLogger()


def run_name(params: TrainParams, commit: str) -> str:
    return os.environ.get("DVC_EXP_NAME") or f"{params.cell}-u{params.units}-e{params.epochs}-{commit[:7]}"


def train(params: TrainParams, experiment_name: str, data_dir: Path, model_path: Path, run_file: Path,
          metrics_path: Path, history_path: Path) -> None:
    x_train, y_train = load_split(data_dir / "train.npz")
    x_val, y_val = load_split(data_dir / "val.npz")
    vocabulary = Vocabulary.load(data_dir / "vocab.json")
    experiment_id = tracking.use_experiment(experiment_name)  # fail fast, before any training
    use_backend(params.backend, params.seed)
    import keras

    commit, dirty = tracking.git_commit()
    tags = {"git_commit": commit, "git_dirty": str(dirty).lower(), "stage": "train"}
    tags.update({name: os.environ[name] for name in ("DVC_EXP_NAME", "DVC_EXP_BASELINE_REV") if name in os.environ})
    with tracking.mlflow.start_run(experiment_id=experiment_id, run_name=run_name(params, commit), tags=tags) as active:
        tracking.mlflow.log_params(tracking.flatten(read_params_file()))
        tracking.log_dataset(x_train, y_train, data_dir / "train.npz", context="training")
        tracking.log_dataset(x_val, y_val, data_dir / "val.npz", context="validation")
        model = build_model(params, len(vocabulary), x_train.shape[1])
        logger = epoch_logger()
        callbacks = [logger]
        if params.early_stopping:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=params.early_stopping, restore_best_weights=True))
        history = model.fit(
            x_train, y_train,
            validation_data=(x_val, y_val),
            epochs=params.epochs,
            batch_size=params.batch_size,
            callbacks=callbacks,
            verbose=2,
        )
        table = pd.DataFrame(history.history)
        table.insert(0, "epoch", range(1, len(table) + 1))
        table = table[["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]]
        summary = {
            "epochs": len(table),
            "seconds": round(sum(logger.seconds), 3),
            "seconds_per_epoch": round(sum(logger.seconds) / len(logger.seconds), 3),
            **{f"final_{name}": float(table[name].iloc[-1]) for name in ("loss", "accuracy", "val_loss", "val_accuracy")},
        }
        with atomic_path(model_path) as tmp:
            model.save(tmp)
        tracking.mlflow.log_artifact(str(model_path), "keras")
        with atomic_path(history_path) as tmp:
            table.to_csv(tmp, index=False)
        write_text_atomic(metrics_path, json.dumps(summary, indent=2) + "\n")
        plots.log(plots.training_curves(table), "training_curves")
        for path in (metrics_path, history_path):
            tracking.mlflow.log_artifact(str(path), "metrics")
        tracking.write_run_reference(run_file, active)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with train/val.npz and vocab.json")
    parser.add_argument("--model", type=Path, required=True, help="Keras model file to write")
    parser.add_argument("--run-file", type=Path, required=True, help="where to record the MLflow run id")
    parser.add_argument("--metrics", type=Path, required=True, help="training summary (json)")
    parser.add_argument("--history", type=Path, required=True, help="per-epoch metrics (csv)")
    args = parser.parse_args()
    params = load_params()
    train(params.train, params.mlflow.experiment_name, args.data_dir, args.model, args.run_file, args.metrics, args.history)


if __name__ == "__main__":
    run(main)

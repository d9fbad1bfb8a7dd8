"""train: padded reviews -> a Keras recurrent classifier, logged to a new MLflow run."""

from __future__ import annotations

import argparse
import contextlib
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
CPU_DEVICES_ENV = "TRAIN_CPU_DEVICES"
POOLING_LAYERS = {"mean": "GlobalAveragePooling1D", "max": "GlobalMaxPooling1D"}


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


# What each backend's multi-worker setup reads on every host.
CLUSTER_ENV = {
    "tensorflow": ("TF_CONFIG",),
    "jax": ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID"),
}


def prepare_devices(params: TrainParams) -> None:
    """Before the backend starts (use_backend): refuse `multi_worker` without its cluster settings,
    and split the CPU into TRAIN_CPU_DEVICES=N logical devices, to try `mirrored` without GPUs
    (this can only be done before the backend starts)."""
    missing = [name for name in CLUSTER_ENV[params.backend] if name not in os.environ]
    if params.distribute == "multi_worker" and missing:
        raise PipelineError(f"train.distribute: multi_worker on {params.backend} needs {', '.join(missing)} set on every host")
    backend = params.backend
    count = os.environ.get(CPU_DEVICES_ENV)
    if not count:
        return
    if not count.isdigit() or int(count) < 1:
        raise PipelineError(f"{CPU_DEVICES_ENV}: expected a number of devices >= 1 (got {count!r})")
    if backend == "jax":
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={count}".strip()
        # XLA's CPU client has one thread per core; each device waiting in the RNN's per-step
        # gradient all-reduce holds one, so with as many devices as cores training deadlocks
        # (seen on 2 cores). Spare threads avoid it.
        os.environ.setdefault("PJRT_NPROC", str(max(os.cpu_count() or 1, 4 * int(count))))
    else:
        import tensorflow as tf

        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(count))


def distribution(params: TrainParams) -> tuple[contextlib.AbstractContextManager, int]:
    """(scope to build and train the model in, number of replicas): `none` one device; `mirrored` a
    replica on every local GPU (else every CPU device) with gradients averaged; `multi_worker` the
    same across hosts. Each backend's own engine: tf.distribute on TensorFlow, keras.distribution
    (DataParallel, jax.distributed across hosts) on JAX."""
    if params.distribute == "none":
        return contextlib.nullcontext(), 1
    if params.backend == "tensorflow":
        import tensorflow as tf

        if params.distribute == "multi_worker":
            strategy = tf.distribute.MultiWorkerMirroredStrategy()  # the cluster from TF_CONFIG
        else:
            devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            strategy = tf.distribute.MirroredStrategy([device.name for device in devices])
        return strategy.scope(), _replicas(params, strategy.num_replicas_in_sync)
    import keras

    if params.distribute == "multi_worker":
        keras.distribution.initialize()  # jax.distributed, from the KERAS_DISTRIBUTION_* variables
    devices = keras.distribution.list_devices()
    # For the whole process: building the model places its variables, fit() shards each batch.
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return contextlib.nullcontext(), _replicas(params, len(devices))


def _replicas(params: TrainParams, count: int) -> int:
    if params.batch_size % count:
        raise PipelineError(f"train.batch_size: {params.batch_size} does not split evenly over {count} replicas")
    return count


def build_model(params: TrainParams, vocabulary_size: int, max_len: int):
    """Embedding (-> SpatialDropout1D) -> `layers` recurrent layers (optionally bidirectional) ->
    the last output, or the mean/max over all outputs (`pooling`) (-> Dropout) -> Dense(1, sigmoid).
    The defaults give the classic Embedding(10000, 32) -> SimpleRNN(32) -> Dense(1)."""
    import keras
    from keras import layers

    rnn = getattr(layers, RNN_LAYERS[params.cell])
    model = keras.Sequential(name=f"imdb_{params.cell}")
    model.add(keras.Input(shape=(max_len,), dtype="int32"))
    model.add(layers.Embedding(vocabulary_size, params.embedding_dim, mask_zero=params.mask_padding))
    if params.embedding_dropout:
        # Whole channels, not single values: neighbouring steps cannot fill in for a dropped one.
        model.add(layers.SpatialDropout1D(params.embedding_dropout))
    for index in range(params.layers):
        cell = rnn(
            params.units,
            dropout=params.dropout,
            recurrent_dropout=params.recurrent_dropout,
            return_sequences=index < params.layers - 1 or params.pooling != "last",
        )
        model.add(layers.Bidirectional(cell) if params.bidirectional else cell)
    if params.pooling != "last":
        # Pooling over every step's output: the review's strongest cues, wherever they are.
        model.add(getattr(layers, POOLING_LAYERS[params.pooling])())
    if params.output_dropout:
        model.add(layers.Dropout(params.output_dropout))
    model.add(layers.Dense(1, activation="sigmoid"))
    clipping = {"clipnorm": params.clipnorm} if params.clipnorm else {}  # keeps adam steady on long sequences
    optimizer = keras.optimizers.get({"class_name": params.optimizer, "config": {"learning_rate": params.learning_rate, **clipping}})
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
    prepare_devices(params)
    x_train, y_train = load_split(data_dir / "train.npz")
    x_val, y_val = load_split(data_dir / "val.npz")
    vocabulary = Vocabulary.load(data_dir / "vocab.json")
    experiment_id = tracking.use_experiment(experiment_name)  # fail fast, before any training
    use_backend(params.backend, params.seed)
    import keras

    scope, replicas = distribution(params)
    tags = tracking.run_tags("train")
    with tracking.store_errors(), tracking.mlflow.start_run(experiment_id=experiment_id, run_name=run_name(params, tags["git_commit"]), tags=tags) as active:
        tracking.mlflow.log_params(tracking.flatten(read_params_file()))
        tracking.log_dataset(x_train, y_train, data_dir / "train.npz", context="training")
        tracking.log_dataset(x_val, y_val, data_dir / "val.npz", context="validation")
        with scope:  # the model's variables, on every replica
            model = build_model(params, len(vocabulary), x_train.shape[1])
        logger = epoch_logger()
        callbacks = [logger]
        stopper = None
        if params.early_stopping:
            stopper = keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=params.early_stopping, restore_best_weights=True)
            callbacks.append(stopper)
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
        # Keras 3 restores the best (lowest val_loss) epoch's weights at the end, stopped early or not.
        kept_epoch = stopper.best_epoch + 1 if stopper is not None else len(table)
        summary = {
            "epochs": len(table),
            "seconds": round(sum(logger.seconds), 3),
            "seconds_per_epoch": round(sum(logger.seconds) / len(logger.seconds), 3),
            "replicas": replicas,
            "kept_epoch": kept_epoch,
            **{f"final_{name}": float(table[name].iloc[-1]) for name in ("loss", "accuracy", "val_loss", "val_accuracy")},
        }
        with atomic_path(model_path) as tmp:
            model.save(tmp)
        tracking.mlflow.log_artifact(str(model_path), "keras")
        with atomic_path(history_path) as tmp:
            table.to_csv(tmp, index=False)
        write_text_atomic(metrics_path, json.dumps(summary, indent=2) + "\n")
        plots.log(plots.training_curves(table, kept_epoch), "training_curves")
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

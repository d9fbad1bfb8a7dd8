"""train: padded reviews -> a Keras recurrent classifier, logged to a new MLflow run."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from imdb_rnn.data import batches
from imdb_rnn.data.splits import load_padded, with_unlabeled
from imdb_rnn.data.text import Vocabulary
from imdb_rnn.models import adversarial
from imdb_rnn.models.rnn import build_model, terminate_on_nan
from imdb_rnn.runtime.devices import Placement, cluster, distribution, prepare_devices, use_backend
from imdb_rnn.runtime.errors import PipelineError, run
from imdb_rnn.runtime.outputs import staged_outputs
from imdb_rnn.runtime.params import Params, load_params, param_values
from imdb_rnn.tracking import lineage, plots
from imdb_rnn.tracking import store as tracking

PARAMS = ("train", "mlflow.experiment_name")  # dvc.yaml's params of this stage (a test compares)
UPSTREAM_STAGES = ("fetch", "split", "pad")  # their params (from dvc.lock) shaped the data trained on
HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]


def run_name(params: Params, commit: str) -> str:
    train = params.train
    return os.environ.get("DVC_EXP_NAME") or f"{train.cell}-u{train.units}-e{train.epochs}-{commit[:7]}"


def train(
    params: Params,
    data_dir: Path,
    unlabeled_dir: Path,
    model_path: Path,
    run_file: Path,
    metrics_path: Path,
    history_path: Path,
) -> None:
    place = cluster(params.train)
    prepare_devices(params.train)
    x_train, y_train = load_padded(data_dir / "train.npz")
    x_val, y_val = load_padded(data_dir / "val.npz")
    weights = None
    if params.train.unlabeled_weight:
        x_train, y_train, weights = with_unlabeled(x_train, y_train, unlabeled_dir, params.train.unlabeled_weight)
    vocabulary = Vocabulary.load(data_dir / "vocab.json")
    if place.chief:  # fail fast, before any training; the other workers never open the store
        experiment_id = tracking.use_experiment(params.mlflow.experiment_name)
    use_backend(params.train.backend, params.train.seed)
    placement = distribution(params.train, place)
    training_data, validation_data = (x_train, y_train, weights), (x_val, y_val)
    if not place.chief:
        # Another worker trains in step with the chief and writes nothing in the workspace. Saving
        # may take part in collectives, so it saves too, to a temp dir then deleted (TensorFlow's
        # multi-worker recipe).
        model, _, _ = fit(params, placement, vocabulary, training_data, validation_data, [])
        with tempfile.TemporaryDirectory(prefix="imdb-rnn-worker-") as scratch, placement.peers_watched():
            model.save(Path(scratch, model_path.name))
        placement.barrier()
        return

    tags = tracking.run_tags("train") | {"distribute.workers": str(place.workers)}
    if params.train.unlabeled_weight:  # the unlabeled stage's run, and (below) the md5 of its output
        tags["unlabeled_run_id"] = tracking.read_run_reference(unlabeled_dir / "run.json")
    # Outputs are staged, and renamed into place only once the run has every artifact and has
    # ended: a failure in MLflow (or NaN loss) leaves the previous model and metrics, not new files
    # without a finished run behind them.
    with (
        staged_outputs(model_path, history_path, metrics_path, run_file) as (
            model_tmp,
            history_tmp,
            metrics_tmp,
            run_tmp,
        ),
        tracking.store_errors(),
        tracking.mlflow.start_run(
            experiment_id=experiment_id, run_name=run_name(params, tags["git_commit"]), tags=tags
        ) as active,
    ):
        tracking.mlflow.log_params(lineage.upstream_params(UPSTREAM_STAGES) | param_values(params, PARAMS))
        tracking.mlflow.set_tags(lineage.data_md5_tags())  # the data it starts from, as dvc.lock has it
        tracking.log_dataset(x_train, y_train, data_dir / "train.npz", context="training")
        tracking.log_dataset(x_val, y_val, data_dir / "val.npz", context="validation")
        epochs = tracking.epoch_metrics()
        model, table, kept_epoch = fit(params, placement, vocabulary, training_data, validation_data, [epochs])
        diverged = table[~np.isfinite(table["loss"])]
        if len(diverged):  # the run ends FAILED, nothing is written
            raise PipelineError(
                f"train: the loss became {diverged['loss'].iloc[0]} in epoch {diverged['epoch'].iloc[0]} "
                f"(train.learning_rate {params.train.learning_rate:g} too high?): training stopped"
            )
        with placement.peers_watched():
            model.save(model_tmp)
        placement.barrier()
        summary = {
            "epochs": len(table),
            "seconds": round(sum(epochs.seconds), 3),
            "seconds_per_epoch": round(sum(epochs.seconds) / len(epochs.seconds), 3),
            "replicas": placement.replicas,
            "workers": place.workers,
            "kept_epoch": kept_epoch,
            **{f"final_{name}": float(table[name].iloc[-1]) for name in HISTORY_COLUMNS[1:]},
        }
        table.to_csv(history_tmp, index=False)
        metrics_tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        tracking.mlflow.log_artifact(str(model_tmp), "keras")
        plots.log(plots.training_curves(table, kept_epoch), "training_curves")
        for path in (metrics_tmp, history_tmp):
            tracking.mlflow.log_artifact(str(path), "metrics")
        tracking.write_run_reference(run_tmp, active)


def fit(params: Params, placement: Placement, vocabulary: Vocabulary, training_data, validation_data, callbacks: list):
    """(model, per-epoch table, the epoch whose weights it keeps) after training on this process's
    share of (x, y, sample weights or None) and (x_val, y_val)."""
    import keras

    x_train, y_train, weights = training_data
    x_val, y_val = validation_data
    # A model that masks padding trains on batches cut to their reviews' length (imdb_rnn.data.batches).
    bucketed = params.train.mask_padding and params.train.buckets > 0 and params.train.distribute == "none"
    with placement.scope:  # the model's variables, on every replica
        model = build_model(params.train, len(vocabulary), None if bucketed else x_train.shape[1])
    placement.build(model, (x_train[: params.train.batch_size], y_train[: params.train.batch_size]))
    # A loss that turns NaN or infinite (a learning rate far too high) never recovers: stop.
    callbacks = [*callbacks, terminate_on_nan()]
    stopper = None
    if params.train.early_stopping:
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=params.train.early_stopping, restore_best_weights=True
        )
        callbacks = [*callbacks, stopper]
    if bucketed:
        data = {
            "x": batches.training_batches(
                x_train,
                y_train,
                params.train.batch_size,
                vocabulary.padding,
                params.train.seed,
                shuffle=True,
                buckets=params.train.buckets,
                weights=weights,
            ),
            "validation_data": batches.training_batches(
                x_val,
                y_val,
                params.train.batch_size,
                vocabulary.padding,
                0,
                shuffle=False,
                buckets=params.train.buckets,
            ),
        }
    else:
        x, y, sample_weight = placement.shard(x_train, y_train, weights)
        data = {
            "x": x,
            "y": y,
            "sample_weight": sample_weight,
            "validation_data": placement.shard(x_val, y_val),
            "batch_size": placement.batch_size(params.train.batch_size),
        }
    with placement.peers_watched():
        history = model.fit(
            **data,
            epochs=params.train.epochs,
            callbacks=callbacks,
            verbose=1 if sys.stdout.isatty() else 2,  # a progress bar in a terminal, a line per epoch in logs
        )
    table = pd.DataFrame(history.history)
    table.insert(0, "epoch", range(1, len(table) + 1))
    # Keras 3 restores the best (lowest val_loss) epoch's weights at the end, stopped early or not.
    kept_epoch = stopper.best_epoch + 1 if stopper is not None else len(table)
    return adversarial.classifier(model), table[HISTORY_COLUMNS], kept_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with train/val.npz and vocab.json")
    parser.add_argument(
        "--unlabeled", type=Path, required=True, help="the unlabeled stage's folder (train.unlabeled_weight)"
    )
    parser.add_argument("--model", type=Path, required=True, help="Keras model file to write")
    parser.add_argument("--run-file", type=Path, required=True, help="where to record the MLflow run id")
    parser.add_argument("--metrics", type=Path, required=True, help="training summary (json)")
    parser.add_argument("--history", type=Path, required=True, help="per-epoch metrics (csv)")
    args = parser.parse_args()
    train(
        load_params(keys=PARAMS), args.data_dir, args.unlabeled, args.model, args.run_file, args.metrics, args.history
    )


if __name__ == "__main__":
    run(main)

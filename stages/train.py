"""train: padded reviews -> a Keras recurrent classifier, logged to a new MLflow run."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from imdb_rnn.data.splits import load_padded, with_unlabeled
from imdb_rnn.data.text import Vocabulary
from imdb_rnn.models import pretraining
from imdb_rnn.models.fitting import fit, training_summary
from imdb_rnn.runtime.devices import cluster, distribution, prepare_devices, use_backend
from imdb_rnn.runtime.errors import PipelineError, run
from imdb_rnn.runtime.outputs import staged_outputs
from imdb_rnn.runtime.params import Params, load_params, param_values
from imdb_rnn.tracking import lineage, plots
from imdb_rnn.tracking import store as tracking

PARAMS = ("train", "pad", "mlflow.experiment_name")  # dvc.yaml's params of this stage (a test compares)
UPSTREAM_STAGES = ("fetch", "split", "pad")  # their params (from dvc.lock) shaped the data trained on


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
    pretrained_dir: Path,
) -> None:
    place = cluster(params.train)
    prepare_devices(params.train)
    x_train, y_train = load_padded(data_dir / "train.npz")
    x_val, y_val = load_padded(data_dir / "val.npz")
    weights = None
    if params.train.unlabeled_weight:
        x_train, y_train, weights = with_unlabeled(x_train, y_train, unlabeled_dir, params.train.unlabeled_weight)
    vocabulary = Vocabulary.load(data_dir / "vocab.json")
    vocabulary.check_made_with(params.pad, data_dir / "vocab.json")  # data made with other pad params: refused
    if place.chief:  # fail fast, before any training; the other workers never open the store
        experiment_id = tracking.use_experiment(params.mlflow.experiment_name)
    use_backend(params.train.backend, params.train.seed)
    placement = distribution(params.train, place)
    training_data, validation_data = (x_train, y_train, weights), (x_val, y_val)
    if not place.chief:
        # Another worker trains in step with the chief and writes nothing in the workspace. Saving
        # may take part in collectives, so it saves too, to a temp dir then deleted (TensorFlow's
        # multi-worker recipe).
        model, _, _ = fit(params, placement, vocabulary, training_data, validation_data, [], pretrained_dir)
        with tempfile.TemporaryDirectory(prefix="imdb-rnn-worker-") as scratch, placement.peers_watched():
            model.save(Path(scratch, model_path.name))
        placement.barrier()
        return

    tags = tracking.run_tags("train") | {"distribute.workers": str(place.workers)}
    if params.train.unlabeled_weight:  # the unlabeled stage's run, and (below) the md5 of its output
        tags["unlabeled_run_id"] = tracking.read_run_reference(unlabeled_dir / "run.json")
    if params.train.init != "none":  # the pretrain stage's run, and the md5 of its output (data.pretrained.md5)
        tags["pretrain_run_id"] = tracking.read_run_reference(pretrained_dir / pretraining.RUN_FILE)
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
        model, table, kept_epoch = fit(
            params, placement, vocabulary, training_data, validation_data, [epochs], pretrained_dir
        )
        diverged = table[~np.isfinite(table["loss"])]
        if len(diverged):  # the run ends FAILED, nothing is written
            raise PipelineError(
                f"train: the loss became {diverged['loss'].iloc[0]} in epoch {diverged['epoch'].iloc[0]} "
                f"(train.learning_rate {params.train.learning_rate:g} too high?): training stopped"
            )
        with placement.peers_watched():
            model.save(model_tmp)
        placement.barrier()
        summary = training_summary(table, epochs.seconds, kept_epoch, placement.replicas, place.workers)
        table.to_csv(history_tmp, index=False)
        metrics_tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        tracking.mlflow.log_artifact(str(model_tmp), "keras")
        plots.log(plots.training_curves(table, kept_epoch), "training_curves")
        for path in (metrics_tmp, history_tmp):
            tracking.mlflow.log_artifact(str(path), "metrics")
        tracking.write_run_reference(run_tmp, active)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with train/val.npz and vocab.json")
    parser.add_argument(
        "--unlabeled", type=Path, required=True, help="the unlabeled stage's folder (train.unlabeled_weight)"
    )
    parser.add_argument(
        "--pretrained", type=Path, default=Path("data/pretrained"), help="the pretrain stage's folder (train.init)"
    )
    parser.add_argument("--model", type=Path, required=True, help="Keras model file to write")
    parser.add_argument("--run-file", type=Path, required=True, help="where to record the MLflow run id")
    parser.add_argument("--metrics", type=Path, required=True, help="training summary (json)")
    parser.add_argument("--history", type=Path, required=True, help="per-epoch metrics (csv)")
    args = parser.parse_args()
    train(
        load_params(keys=PARAMS),
        args.data_dir,
        args.unlabeled,
        args.model,
        args.run_file,
        args.metrics,
        args.history,
        args.pretrained,
    )


if __name__ == "__main__":
    run(main)

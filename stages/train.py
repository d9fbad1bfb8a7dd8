"""train: padded reviews -> a Keras recurrent classifier, logged to a new MLflow run."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from imdb_rnn.data.splits import TrainingData
from imdb_rnn.data.text import Vocabulary
from imdb_rnn.models import fitting, pretraining
from imdb_rnn.runtime.devices import Cluster, cluster, distribution, prepare_devices, use_backend
from imdb_rnn.runtime.errors import run
from imdb_rnn.runtime.outputs import staged_outputs
from imdb_rnn.runtime.params import Params, load_params, param_values
from imdb_rnn.tracking import lineage, plots
from imdb_rnn.tracking import store as tracking

PARAMS = ("train", "pad", "mlflow.experiment_name")  # dvc.yaml's params of this stage (a test compares)
UPSTREAM_STAGES = ("fetch", "split", "pad")  # their params (from dvc.lock) shaped the data trained on


def worker(params: Params, place: Cluster, data: TrainingData, args: argparse.Namespace) -> None:
    """Another worker than the chief trains in step with it, never opens the MLflow store, and saves (saving
    may take part in collectives) to a temp dir then deleted (TensorFlow's multi-worker recipe)."""
    use_backend(params.train.backend, params.train.seed)
    fitted = fitting.fit(params.train, distribution(params.train, place), data, [], args.pretrained)
    with tempfile.TemporaryDirectory(prefix="imdb-rnn-worker-") as scratch:
        fitted.save(Path(scratch, args.model.name))


def chief(params: Params, place: Cluster, data: TrainingData, args: argparse.Namespace) -> None:
    """The chief (or the only worker) trains in a new MLflow run and writes every output, renamed into place
    only once the run has every artifact and has ended (a failure in MLflow, or a NaN loss, leaves the old)."""
    train = params.train
    experiment_id = tracking.use_experiment(params.mlflow.experiment_name)  # fail fast, before any training
    use_backend(train.backend, train.seed)
    placement = distribution(train, place)
    tags = tracking.run_tags("train") | {"distribute.workers": str(place.workers)}
    if train.unlabeled_weight:  # the unlabeled stage's run (and its output's md5, data.unlabeled.md5)
        tags["unlabeled_run_id"] = tracking.read_run_reference(args.unlabeled / "run.json")
    if train.init != "none":  # the pretrain stage's run (and its output's md5, data.pretrained.md5)
        tags["pretrain_run_id"] = tracking.read_run_reference(args.pretrained / pretraining.RUN_FILE)
    outputs = (args.model, args.history, args.metrics, args.run_file)
    name = os.environ.get("DVC_EXP_NAME") or f"{train.cell}-u{train.units}-e{train.epochs}-{tags['git_commit'][:7]}"
    with (
        staged_outputs(*outputs) as (model_tmp, history_tmp, metrics_tmp, run_tmp),
        tracking.store_errors(),
        tracking.mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as active,
    ):
        tracking.mlflow.log_params(lineage.upstream_params(UPSTREAM_STAGES) | param_values(params, PARAMS))
        tracking.mlflow.set_tags(lineage.data_md5_tags())  # the data it starts from, as dvc.lock has it
        tracking.log_dataset(data.x, data.y, args.data_dir / "train.npz", context="training")
        tracking.log_dataset(data.x_val, data.y_val, args.data_dir / "val.npz", context="validation")
        epochs = tracking.epoch_metrics()
        fitted = fitting.fit(train, placement, data, [epochs], args.pretrained)  # a NaN loss: the run FAILED
        fitted.save(model_tmp)
        fitted.table.to_csv(history_tmp, index=False)
        metrics_tmp.write_text(json.dumps(fitted.summary(epochs.seconds), indent=2) + "\n", encoding="utf-8")
        tracking.mlflow.log_artifact(str(model_tmp), "keras")
        plots.log(plots.training_curves(fitted.table, fitted.kept_epoch), "training_curves")
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
    params = load_params(keys=PARAMS)
    place = cluster(params.train)  # read first: only the chief opens the MLflow store
    prepare_devices(params.train)
    data = TrainingData.load(args.data_dir, args.unlabeled, params.train.unlabeled_weight)
    Vocabulary.load(args.data_dir / "vocab.json").check_made_with(params.pad, args.data_dir / "vocab.json")
    (chief if place.chief else worker)(params, place, data, args)


if __name__ == "__main__":
    run(main)

"""evaluate: the trained model on the validation and official test reviews -> metrics and plots,
added to the MLflow run that train started."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from imdb_rnn.data.splits import load_padded
from imdb_rnn.data.text import Vocabulary
from imdb_rnn.models import inference
from imdb_rnn.models.scoring import SCORED_SPLITS, metric_values, scores
from imdb_rnn.runtime.devices import use_backend
from imdb_rnn.runtime.errors import run
from imdb_rnn.runtime.outputs import staged_outputs
from imdb_rnn.runtime.params import PARAMS_FILE, Params, load_params, param_values
from imdb_rnn.tracking import lineage, plots, promotion, registry
from imdb_rnn.tracking import store as tracking

PARAMS = ("evaluate", "train.backend", "mlflow.experiment_name", "mlflow.registered_model_name", "mlflow.promote")
PLOTTED_SPLIT = "test"  # the confusion matrix and ROC curve are the test split's
OUTPUTS = ("eval.json", "confusion.csv", "roc.csv")


def evaluation_run(training_run_id: str, values: dict[str, object]):
    """The training run, resumed (its status kept if this stage fails), unless it holds other values of
    these params (evaluate re-ran with, say, a new threshold: MLflow params cannot change): then a child run."""
    training = tracking.mlflow.get_run(training_run_id)
    if all(training.data.params.get(key, str(value)) == str(value) for key, value in values.items()):
        return tracking.resumed_run(training_run_id)
    tags = tracking.run_tags("evaluate") | dict.fromkeys(("mlflow.parentRunId", "training_run_id"), training_run_id)
    name = f"{training.info.run_name}-evaluate"
    return tracking.mlflow.start_run(experiment_id=training.info.experiment_id, run_name=name, tags=tags)


def evaluate(params: Params, data_dir: Path, model_path: Path, run_file: Path, out_dir: Path) -> None:
    training_run_id = tracking.read_run_reference(run_file)
    experiment_id = tracking.use_experiment(params.mlflow.experiment_name)
    tracking.check_training_run(training_run_id, experiment_id, run_file)
    use_backend(params.train.backend, seed=0)
    model = inference.load_keras_model(model_path)
    threshold = params.evaluate.threshold
    padding = Vocabulary.load(data_dir / "vocab.json").padding

    labels, probabilities, report = {}, {}, {}
    for split in SCORED_SPLITS:
        path = data_dir / f"{split}.npz"
        x, labels[split] = load_padded(path)
        probabilities[split] = inference.predict(model, x, padding, params.evaluate.batch_size, str(path))
        report[split] = scores(labels[split], probabilities[split], threshold)
    actual, probability = labels[PLOTTED_SPLIT], probabilities[PLOTTED_SPLIT]
    predicted = (probability >= threshold).astype(int)
    fpr, tpr, thresholds = roc_curve(actual, probability)

    values, name = param_values(params, PARAMS), params.mlflow.registered_model_name
    # Outputs are renamed into place only once every MLflow step has succeeded (a failure leaves none for
    # DVC to take as done), and a version registered here is withdrawn unless they all are.
    with (
        registry.withdrawn_unless_finished(name) as registered,
        staged_outputs(*(out_dir / name for name in OUTPUTS)) as (eval_json, confusion_csv, roc_csv),
    ):
        pd.DataFrame({"actual": actual, "predicted": predicted}).to_csv(confusion_csv, index=False)
        pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thresholds, 1.0)}).to_csv(roc_csv, index=False)
        with tracking.store_errors(), evaluation_run(training_run_id, values) as active:
            report["mlflow_run_id"] = active.info.run_id  # so a result restored from DVC's run cache names its run
            eval_json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            tracking.mlflow.log_params(values)
            # "test.accuracy", as `dvc metrics show` names it; "val_loss" is taken by the per-epoch curve.
            tracking.mlflow.log_metrics(metric_values(report))
            # The run as the full record: data lineage, figures, the files that reproduce it.
            tracking.mlflow.set_tags(lineage.data_md5_tags())
            plots.log(plots.confusion_matrix(actual, predicted, PLOTTED_SPLIT), "confusion_matrix")
            plots.log(plots.roc_curve(actual, probability, PLOTTED_SPLIT), "roc_curve")
            for path in (PARAMS_FILE, lineage.LOCK_FILE):
                if path.is_file():
                    tracking.mlflow.log_artifact(str(path))
            for path in (eval_json, confusion_csv, roc_csv):
                tracking.mlflow.log_artifact(str(path), "metrics")
            # The raw-text model, registered as a new version carrying its metrics and what its val.accuracy
            # is comparable with (promotion.SCOPE: the same split, the same threshold); then the alias moved (or not).
            tags = metric_values(report) | lineage.data_md5_tags() | {"evaluate.threshold": threshold}
            config = {"backend": params.train.backend, "threshold": threshold}
            version = registry.log_model(model_path, data_dir / "vocab.json", config, name, tags, registered)
            accuracies = {f"{split}.accuracy": report[split]["accuracy"] for split in ("val", "test")}
            print(promotion.promote(name, version, params.mlflow.promote, accuracies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with val/test.npz and vocab.json")
    parser.add_argument("--model", type=Path, required=True, help="Keras model from train")
    parser.add_argument("--run-file", type=Path, required=True, help="MLflow run reference from train")
    parser.add_argument("--out-dir", type=Path, required=True, help="folder for eval.json, confusion.csv, roc.csv")
    args = parser.parse_args()
    evaluate(load_params(keys=PARAMS), args.data_dir, args.model, args.run_file, args.out_dir)


if __name__ == "__main__":
    run(main)

"""evaluate: the trained model on the validation and official test reviews -> metrics and plots,
added to the MLflow run that train started."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from stages import plots, serving, tracking
from stages.common import PARAMS_FILE, EvaluateParams, atomic_path, load_params, run, write_text_atomic
from stages.train import load_split, use_backend

SPLITS = ("val", "test")


def scores(y_true: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = (probability >= threshold).astype(int)
    return {
        "accuracy": skm.accuracy_score(y_true, predicted),
        "precision": skm.precision_score(y_true, predicted, zero_division=0),
        "recall": skm.recall_score(y_true, predicted, zero_division=0),
        "f1": skm.f1_score(y_true, predicted, zero_division=0),
        "roc_auc": skm.roc_auc_score(y_true, probability),
        "loss": skm.log_loss(y_true, probability, labels=[0, 1]),
    }


def evaluate(params: EvaluateParams, backend: str, experiment_name: str, registered_model_name: str,
             data_dir: Path, model_path: Path, run_file: Path, out_dir: Path) -> None:
    run_id = tracking.read_run_reference(run_file)
    tracking.use_experiment(experiment_name)
    use_backend(backend, seed=0)
    model = serving.load_keras_model(model_path)

    report: dict[str, object] = {}
    for split in SPLITS:
        x, y = load_split(data_dir / f"{split}.npz")
        probability = model.predict(x, batch_size=params.batch_size, verbose=0).ravel().astype("float64")
        report[split] = {name: round(float(value), 6) for name, value in scores(y, probability, params.threshold).items()}
    # The last split is test: its confusion matrix and ROC curve are the plots.
    predicted = (probability >= params.threshold).astype(int)
    fpr, tpr, thresholds = skm.roc_curve(y, probability)
    report["mlflow_run_id"] = run_id  # so a result restored from DVC's run cache names its run

    with atomic_path(out_dir / "confusion.csv") as tmp:
        pd.DataFrame({"actual": y, "predicted": predicted}).to_csv(tmp, index=False)
    with atomic_path(out_dir / "roc.csv") as tmp:
        pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thresholds, 1.0)}).to_csv(tmp, index=False)
    write_text_atomic(out_dir / "eval.json", json.dumps(report, indent=2) + "\n")

    with tracking.store_errors(), tracking.mlflow.start_run(run_id=run_id):
        # "test.accuracy", as `dvc metrics show` names it; "val_loss" is taken by the per-epoch curve.
        tracking.mlflow.log_metrics({f"{split}.{name}": value for split in SPLITS for name, value in report[split].items()})
        # The run as the full record: data lineage, figures, the files that reproduce it.
        tracking.mlflow.set_tags(tracking.data_md5_tags())
        plots.log(plots.confusion_matrix(y, predicted, "Confusion matrix (test)"), "confusion_matrix")
        plots.log(plots.roc_curve(y, probability, "ROC (test)"), "roc_curve")
        for path in (PARAMS_FILE, tracking.LOCK_FILE):
            if path.is_file():
                tracking.mlflow.log_artifact(str(path))
        for name in ("eval.json", "confusion.csv", "roc.csv"):
            tracking.mlflow.log_artifact(str(out_dir / name), "metrics")
        # The raw-text model, registered as a new version that carries its test metrics.
        serving.log_model(model_path, data_dir / "vocab.json", backend, params.threshold, registered_model_name,
                          version_tags={f"test.{name}": value for name, value in report["test"].items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with val/test.npz and vocab.json")
    parser.add_argument("--model", type=Path, required=True, help="Keras model from train")
    parser.add_argument("--run-file", type=Path, required=True, help="MLflow run reference from train")
    parser.add_argument("--out-dir", type=Path, required=True, help="folder for eval.json, confusion.csv, roc.csv")
    args = parser.parse_args()
    params = load_params()
    evaluate(params.evaluate, params.train.backend, params.mlflow.experiment_name, params.mlflow.registered_model_name,
             args.data_dir, args.model, args.run_file, args.out_dir)


if __name__ == "__main__":
    run(main)

"""compare: the recurrent model against the baseline on the same test reviews, review by review (two
accuracies each ±0.004 say little about their difference; pairing does) -> metrics/compare.json (the
difference with its 95 % interval, McNemar's exact p-value), logged to the run evaluate logged to."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from imdb_rnn.models.scoring import metric_values, paired_comparison
from imdb_rnn.runtime.errors import PipelineError, run
from imdb_rnn.runtime.outputs import staged_outputs
from imdb_rnn.runtime.params import load_params
from imdb_rnn.tracking import store as tracking

PARAMS = ("mlflow.experiment_name",)


def read_predictions(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, usecols=["actual", "predicted"])
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{path}: cannot read test predictions: {exc}") from None


def compare(experiment_name: str, model_csv: Path, baseline_csv: Path, evaluation: Path, out: Path) -> None:
    model, baseline = read_predictions(model_csv), read_predictions(baseline_csv)
    if not model["actual"].equals(baseline["actual"]):
        raise PipelineError(f"{model_csv} and {baseline_csv}: not the same test reviews in the same order")
    report = paired_comparison(model["actual"].to_numpy(), model["predicted"], baseline["predicted"])
    run_id = tracking.read_run_reference(evaluation, key="mlflow_run_id")
    tracking.use_experiment(experiment_name)
    with staged_outputs(out) as (out_tmp,), tracking.store_errors(), tracking.resumed_run(run_id):
        out_tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        tracking.mlflow.log_metrics(metric_values({"compare": report}, splits=("compare",)))
        tracking.mlflow.log_artifact(str(out_tmp), "metrics")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_predictions", type=Path, help="evaluate's metrics/confusion.csv")
    parser.add_argument("baseline_predictions", type=Path, help="baseline's test predictions (csv)")
    parser.add_argument("--evaluation", type=Path, required=True, help="evaluate's eval.json: the run to log to")
    parser.add_argument("--out", type=Path, required=True, help="metrics/compare.json")
    args = parser.parse_args()
    params = load_params(keys=PARAMS)
    compare(params.mlflow.experiment_name, args.model_predictions, args.baseline_predictions, args.evaluation, args.out)


if __name__ == "__main__":
    run(main)

"""baseline: a linear model on the same split (TF-IDF + logistic regression, or NBSVM), scored like
evaluate — the yardstick every recurrent model is compared with, as its own MLflow run."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from imdb_rnn.data.splits import SHORT_SPLIT, SPLITS, read_split, short_reviews
from imdb_rnn.models.baselines import RUN_NAMES, build_classifier
from imdb_rnn.models.scoring import SCORED_SPLITS, metric_values, scores
from imdb_rnn.runtime.errors import run
from imdb_rnn.runtime.outputs import staged_outputs
from imdb_rnn.runtime.params import Params, load_params, param_values
from imdb_rnn.tracking import store as tracking

PARAMS = ("baseline", "evaluate.threshold", "mlflow.experiment_name")


def baseline(params: Params, split_dir: Path, metrics_path: Path, predictions_path: Path) -> None:
    frames = {name: read_split(split_dir, name, ["text", "label"]) for name in SPLITS}
    frames[SHORT_SPLIT] = short_reviews(frames["test"])
    experiment_id = tracking.use_experiment(params.mlflow.experiment_name)  # fail fast, before the fit

    # The run spans the fit and the scoring, so its duration is the baseline's cost.
    run_name, values = RUN_NAMES[params.baseline.kind], param_values(params, PARAMS)
    with tracking.stage_run(experiment_id, "baseline", run_name, values) as active:  # tagged role=baseline
        start = time.perf_counter()
        model = build_classifier(**params.baseline.model_dump()).fit(frames["train"]["text"], frames["train"]["label"])
        seconds = time.perf_counter() - start
        probabilities = {split: model.predict_proba(frames[split]["text"])[:, 1] for split in SCORED_SPLITS}
        threshold = params.evaluate.threshold
        report = {split: scores(frames[split]["label"], probabilities[split], threshold) for split in SCORED_SPLITS}
        report["fit_seconds"] = round(seconds, 3)
        tracking.mlflow.log_metrics(metric_values(report) | {"fit_seconds": seconds})
        report["mlflow_run_id"] = active.info.run_id
        # Each test review's predicted label, in the test split's order, as evaluate's confusion.csv
        # holds the model's: the compare stage pairs them.
        predicted = (probabilities["test"] >= threshold).astype(int)
        with staged_outputs(metrics_path, predictions_path) as (metrics_tmp, predictions_tmp):
            metrics_tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            pairs = pd.DataFrame({"actual": frames["test"]["label"], "predicted": predicted})
            pairs.to_csv(predictions_tmp, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("split_dir", type=Path, help="folder with train/val/test.parquet")
    parser.add_argument("--metrics", type=Path, required=True, help="val and test scores (json)")
    parser.add_argument("--predictions", type=Path, required=True, help="each test review's label and prediction (csv)")
    args = parser.parse_args()
    baseline(load_params(keys=PARAMS), args.split_dir, args.metrics, args.predictions)


if __name__ == "__main__":
    run(main)

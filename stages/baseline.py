"""baseline: TF-IDF word n-grams + logistic regression on the same split, scored like evaluate —
the yardstick every recurrent model is compared with, as its own MLflow run."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from stages import tracking
from stages.common import BaselineParams, PipelineError, load_params, run, write_text_atomic
from stages.evaluate import SPLITS, scores
from stages.text import tokenize

BASELINE_TAG = "baseline"  # the `role` tag that tells the baseline's run apart in the MLflow UI


def read_split(split_dir: Path, name: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(split_dir / f"{name}.parquet", columns=["text", "label"])
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{split_dir / name}.parquet: cannot read: {exc}") from None


def build_classifier(params: BaselineParams):
    """The reviews tokenized exactly as for the recurrent models (stages.text.tokenize)."""
    vectorizer = TfidfVectorizer(
        tokenizer=tokenize,
        token_pattern=None,
        lowercase=False,  # tokenize lowercases
        ngram_range=(1, params.ngram_max),
        min_df=params.min_df,
        max_features=params.max_features,
        sublinear_tf=True,  # log(1 + tf): a word said ten times is not ten times the evidence
    )
    classifier = LogisticRegression(C=params.C, max_iter=params.max_iter, random_state=params.seed)
    return make_pipeline(vectorizer, classifier)


def baseline(params: BaselineParams, threshold: float, experiment_name: str, split_dir: Path, metrics_path: Path) -> None:
    frames = {name: read_split(split_dir, name) for name in ("train", *SPLITS)}
    experiment_id = tracking.use_experiment(experiment_name)  # fail fast, before the fit

    start = time.perf_counter()
    model = build_classifier(params).fit(frames["train"]["text"], frames["train"]["label"])
    seconds = time.perf_counter() - start

    report: dict[str, object] = {}
    for split in SPLITS:
        probability = model.predict_proba(frames[split]["text"])[:, 1]
        report[split] = {name: round(float(value), 6) for name, value in scores(frames[split]["label"], probability, threshold).items()}
    report["fit_seconds"] = round(seconds, 3)

    with tracking.mlflow.start_run(experiment_id=experiment_id, run_name="baseline-tfidf-logreg",
                                   tags={**tracking.run_tags("baseline"), "role": BASELINE_TAG}) as active:
        tracking.mlflow.log_params({f"baseline.{key}": value for key, value in params.model_dump().items()}
                                   | {"evaluate.threshold": threshold})
        tracking.mlflow.log_metrics({f"{split}.{name}": value for split in SPLITS for name, value in report[split].items()}
                                    | {"fit_seconds": seconds})
        report["mlflow_run_id"] = active.info.run_id
    write_text_atomic(metrics_path, json.dumps(report, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("split_dir", type=Path, help="folder with train/val/test.parquet")
    parser.add_argument("--metrics", type=Path, required=True, help="val and test scores (json)")
    args = parser.parse_args()
    params = load_params()
    baseline(params.baseline, params.evaluate.threshold, params.mlflow.experiment_name, args.split_dir, args.metrics)


if __name__ == "__main__":
    run(main)

"""How a classifier is scored: the same figures for the recurrent model (evaluate) and the
linear yardstick (baseline)."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest, norm
from sklearn import metrics as skm

SCORED_SPLITS = ("val", "test", "test_short")  # test_short: imdb_rnn.data.splits.SHORT_SPLIT


def scores(y_true: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, object]:
    """accuracy with its 95 % interval (Wilson's: inside [0, 1], right for small splits too), precision,
    recall, f1 at `threshold`; roc_auc and log loss; rounded to 6 digits, as the metrics files hold them."""
    predicted = (probability >= threshold).astype(int)
    right = int((predicted == np.asarray(y_true)).sum())
    interval = binomtest(right, len(predicted)).proportion_ci(confidence_level=0.95, method="wilson")
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y_true, predicted, average="binary", zero_division=0)
    figures = {"accuracy": skm.accuracy_score(y_true, predicted), "precision": precision, "recall": recall, "f1": f1}
    loss = skm.log_loss(y_true, probability, labels=[0, 1])
    figures |= {"roc_auc": skm.roc_auc_score(y_true, probability), "loss": loss}
    rounded: dict[str, object] = {name: round(float(value), 6) for name, value in figures.items()}
    rounded["accuracy_ci95"] = [round(float(interval.low), 6), round(float(interval.high), 6)]
    return rounded


def metric_values(report: dict[str, dict[str, object]], splits=SCORED_SPLITS) -> dict[str, float]:
    """A report's figures as MLflow metrics: "val.accuracy", and an interval as its two ends,
    "val.accuracy_ci95_low" and "val.accuracy_ci95_high"."""
    values = {}
    for split in splits:
        for name, value in report[split].items():
            if isinstance(value, list):
                values |= {f"{split}.{name}_low": value[0], f"{split}.{name}_high": value[1]}
            else:
                values[f"{split}.{name}"] = value
    return values


def paired_comparison(actual: np.ndarray, model: np.ndarray, baseline: np.ndarray) -> dict[str, object]:
    """The model's and the baseline's labels on the same reviews, review by review: the difference in
    accuracy with its 95 % interval (Wald's for paired proportions: only the reviews one gets right and
    the other wrong count) and McNemar's exact p-value (a binomial test on those reviews)."""
    model_right, baseline_right = np.asarray(model) == actual, np.asarray(baseline) == actual
    reviews = len(model_right)
    only_model, only_baseline = int((model_right & ~baseline_right).sum()), int((baseline_right & ~model_right).sum())
    discordant, difference = only_model + only_baseline, (only_model - only_baseline) / reviews
    half = norm.ppf(0.975) * np.sqrt(discordant - (only_model - only_baseline) ** 2 / reviews) / reviews
    return {
        "reviews": reviews,
        "model_accuracy": round(float(model_right.mean()), 6),
        "baseline_accuracy": round(float(baseline_right.mean()), 6),
        "difference": round(difference, 6),
        "difference_ci95": [round(difference - half, 6), round(difference + half, 6)],
        "model_only_right": only_model,
        "baseline_only_right": only_baseline,
        "mcnemar_p": float(binomtest(only_model, discordant).pvalue) if discordant else 1.0,
    }

"""How a classifier is scored: the same figures for the recurrent model (evaluate) and the
linear yardstick (baseline)."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

SCORED_SPLITS = ("val", "test", "test_short")  # test_short: imdb_rnn.data.splits.SHORT_SPLIT


def scores(y_true: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, float]:
    """accuracy, precision, recall, f1 at `threshold`; roc_auc and log loss of the probabilities;
    rounded to 6 digits, as the metrics files hold them."""
    predicted = (probability >= threshold).astype(int)
    figures = {
        "accuracy": skm.accuracy_score(y_true, predicted),
        "precision": skm.precision_score(y_true, predicted, zero_division=0),
        "recall": skm.recall_score(y_true, predicted, zero_division=0),
        "f1": skm.f1_score(y_true, predicted, zero_division=0),
        "roc_auc": skm.roc_auc_score(y_true, probability),
        "loss": skm.log_loss(y_true, probability, labels=[0, 1]),
    }
    return {name: round(float(value), 6) for name, value in figures.items()}

"""imdb_rnn.models.scoring, shared by evaluate and baseline."""

from __future__ import annotations

import numpy as np

from imdb_rnn.models.scoring import metric_values, scores

# --- scoring, shared by evaluate and baseline ---


def test_scores_of_a_perfect_and_of_a_known_classifier():
    y = np.array([0, 0, 1, 1])
    perfect = scores(y, np.array([0.1, 0.2, 0.8, 0.9]), threshold=0.5)
    assert perfect["accuracy"] == perfect["f1"] == perfect["roc_auc"] == 1.0
    mixed = scores(y, np.array([0.6, 0.2, 0.8, 0.4]), threshold=0.5)
    assert (
        mixed["accuracy"] == 0.5 and mixed["precision"] == 0.5 and mixed["recall"] == 0.5 and mixed["roc_auc"] == 0.75
    )
    assert scores(y, np.array([0.6, 0.2, 0.8, 0.4]), threshold=0.7)["recall"] == 0.5
    assert set(mixed) == {"accuracy", "accuracy_ci95", "precision", "recall", "f1", "roc_auc", "loss"}


def test_every_accuracy_comes_with_wilsons_95_percent_interval():
    # 81 right of 263: Wilson's score interval (0.2553, 0.3662), as computed by its formula by hand.
    y = np.zeros(263, int)
    report = scores(y, np.r_[np.zeros(81), np.ones(182)], threshold=0.5)
    assert report["accuracy_ci95"] == [0.255289, 0.36621]
    assert scores(y[:4], np.ones(4), threshold=0.5)["accuracy_ci95"] == [0.0, 0.489891]  # inside [0, 1]
    logged = metric_values({"val": report}, splits=("val",))
    assert logged["val.accuracy_ci95_low"] == 0.255289 and logged["val.accuracy_ci95_high"] == 0.36621
    assert "val.accuracy_ci95" not in logged and logged["val.accuracy"] == report["accuracy"]

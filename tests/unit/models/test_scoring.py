"""imdb_rnn.models.scoring, shared by evaluate and baseline."""

from __future__ import annotations

import numpy as np

from imdb_rnn.models.scoring import scores

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
    assert set(mixed) == {"accuracy", "precision", "recall", "f1", "roc_auc", "loss"}

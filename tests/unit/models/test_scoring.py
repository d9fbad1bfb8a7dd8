"""imdb_rnn.models.scoring, shared by evaluate, baseline and compare."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imdb_rnn.models.scoring import metric_values, paired_comparison, scores
from imdb_rnn.runtime.errors import PipelineError

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


def test_the_paired_comparison_counts_only_the_reviews_the_two_disagree_on():
    actual = np.ones(100, int)
    model, baseline = np.zeros(100, int), np.zeros(100, int)
    model[:60], baseline[15:65] = 1, 1  # 15 right by the model only, 5 by the baseline only, 45 by both
    report = paired_comparison(actual, model, baseline)
    assert (report["model_only_right"], report["baseline_only_right"]) == (15, 5)
    assert (report["model_accuracy"], report["baseline_accuracy"], report["difference"]) == (0.6, 0.5, 0.1)
    # McNemar exact: 2 P(X >= 15), X ~ Binomial(20, 1/2); Wald: 0.1 ± 1.96 sqrt(20 - 10²/100) / 100.
    assert report["mcnemar_p"] == pytest.approx(0.041389, abs=1e-6)
    assert report["difference_ci95"] == [0.014567, 0.185433]
    same = paired_comparison(actual, model, model)
    assert same["mcnemar_p"] == 1.0 and same["difference_ci95"] == [0.0, 0.0]


def test_compare_refuses_predictions_of_other_reviews_in_one_line(tmp_path):
    from stages.compare import compare

    pd.DataFrame({"actual": [0, 1, 1], "predicted": [0, 1, 0]}).to_csv(tmp_path / "model.csv", index=False)
    pd.DataFrame({"actual": [1, 0, 1], "predicted": [0, 1, 0]}).to_csv(tmp_path / "baseline.csv", index=False)
    with pytest.raises(PipelineError, match=r"baseline.csv: not the same test reviews in the same order"):
        compare("x", tmp_path / "model.csv", tmp_path / "baseline.csv", tmp_path / "eval.json", tmp_path / "c.json")
    assert not (tmp_path / "c.json").exists()

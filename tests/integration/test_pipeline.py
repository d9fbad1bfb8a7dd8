"""End to end: `dvc repro` in a temporary git repo on real reviews with tiny training params; `fetch` on the
whole official archive."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from ruamel.yaml import YAML

from imdb_rnn.runtime.params import load_params
from tests.helpers import SMALL_PER_FOLDER, edit_params, make_project, sh, stage_cmd

pytestmark = pytest.mark.slow  # run first by make test (tests/conftest.py)

STAGES = ["fetch", "split", "pad", "train", "evaluate", "baseline", "compare"]


def stages_run(output: str) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


@pytest.fixture()
def pipeline(reproduced):
    return reproduced


def mlflow_runs(project):
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sentiment")
    # The runs of the recurrent models (the baseline stage has its own run).
    return client, client.search_runs(
        [experiment.experiment_id], filter_string="tags.stage = 'train'", order_by=["attributes.start_time ASC"]
    )


def test_split_sizes_and_padding(pipeline):
    split = load_params(pipeline / "params.yaml").split
    parts = {name: pd.read_parquet(pipeline / f"data/split/{name}.parquet") for name in ("train", "val", "test")}
    rows = {"train": split.train_size, "val": split.val_size, "test": 2 * SMALL_PER_FOLDER}
    assert {name: len(part) for name, part in parts.items()} == rows
    assert split.group_by == "movie" and parts["train"].movie.notna().all() and parts["val"].movie.notna().all()
    assert not set(parts["train"].movie) & set(parts["val"].movie)  # no movie on both sides
    for name in ("train", "val"):  # stratified: the archive's share of positives, rounded
        assert abs(parts[name].label.sum() - len(parts[name]) / 2) <= 1
    vocabulary = json.loads((pipeline / "data/padded/vocab.json").read_text())
    assert vocabulary["tokens"][:2] == ["", "[UNK]"] and len(vocabulary["tokens"]) == 5000
    for name, count in rows.items():
        with np.load(pipeline / f"data/padded/{name}.npz") as data:
            assert data["x"].shape == (count, 64) and data["y"].shape == (count,)
            assert data["x"].max() < 5000 and set(np.unique(data["y"])) == {0, 1}


def test_fetch_reads_the_whole_official_archive_and_flags_repeated_reviews(full_archive, tmp_path):
    """The one test on all 100,000 reviews: the official counts, and the unlabeled copies of labeled
    reviews flagged so that no held-out review's text is learned from."""
    project = make_project(tmp_path / "project")  # the default params: the official archive
    sh(stage_cmd(project, "fetch"), project, IMDB_ARCHIVE=str(full_archive))
    labeled = pd.read_parquet(project / "data/raw/reviews.parquet")
    assert labeled.groupby(["split", "label"]).size().tolist() == [12_500] * 4
    unlabeled = pd.read_parquet(project / "data/raw/unlabeled.parquet")
    assert list(unlabeled.columns) == ["review_id", "text", "in_labeled"] and len(unlabeled) == 50_000
    assert unlabeled.review_id.is_unique and unlabeled.text.str.len().min() > 0
    # The official archive repeats a few hundred labeled reviews among the unlabeled ones (without
    # their <br /> tags): flagged, so that no held-out review's text is learned from.
    same = lambda text: " ".join(text.replace("<br />", "").split())  # noqa: E731
    repeated = unlabeled.text.map(same).isin(set(labeled.text.map(same)))
    assert 0 < repeated.sum() < 1000 and (unlabeled.in_labeled == repeated).all()


def test_metrics_in_range(pipeline):
    report = json.loads((pipeline / "metrics/eval.json").read_text())
    baseline = json.loads((pipeline / "metrics/baseline.json").read_text())
    # test_short: each test review's first sentence; shorter, so harder: the tiny model is near chance there.
    assert 0.4 < report["test_short"]["accuracy"] < report["test"]["accuracy"]
    assert 0.6 < baseline["test_short"]["accuracy"] < baseline["test"]["accuracy"]
    with np.load(pipeline / "data/padded/test_short.npz") as short, np.load(pipeline / "data/padded/test.npz") as test:
        np.testing.assert_array_equal(short["y"], test["y"])
        assert np.count_nonzero(short["x"], axis=1).max() <= 30 < np.count_nonzero(test["x"], axis=1).max()
    for split in ("val", "test", "test_short"):
        assert set(report[split]) == {"accuracy", "accuracy_ci95", "precision", "recall", "f1", "roc_auc", "loss"}
        for figures in (report[split], baseline[split]):
            low, high = figures["accuracy_ci95"]
            assert low < figures["accuracy"] < high < low + 0.1
    for split in ("val", "test"):
        assert 0.6 < report[split]["accuracy"] <= 1 and 0.6 < report[split]["roc_auc"] <= 1
    # The same test reviews, paired: the difference is the two accuracies', McNemar's p its test.
    compared = json.loads((pipeline / "metrics/compare.json").read_text())
    assert compared["reviews"] == len(pd.read_csv(pipeline / "metrics/baseline_test.csv"))
    assert compared["difference"] == pytest.approx(report["test"]["accuracy"] - baseline["test"]["accuracy"], abs=2e-6)
    low, high = compared["difference_ci95"]
    assert low < compared["difference"] < high and 0 <= compared["mcnemar_p"] <= 1
    client, (run,) = mlflow_runs(pipeline)
    assert run.data.metrics["compare.mcnemar_p"] == compared["mcnemar_p"]
    assert run.data.metrics["val.accuracy_ci95_low"] == report["val"]["accuracy_ci95"][0]
    # The version carries what its val.accuracy is comparable with: the split's md5, the threshold.
    (version,) = client.search_model_versions("name = 'imdb-sentiment-rnn'")
    locked = {
        out["path"]: out["md5"]
        for out in YAML(typ="safe").load((pipeline / "dvc.lock").read_text())["stages"]["split"]["outs"]
    }
    assert (version.tags["data.split.md5"], version.tags["evaluate.threshold"]) == (locked["data/split"], "0.5")
    history = pd.read_csv(pipeline / "metrics/history.csv")
    assert list(history.columns) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"] and len(history) == 1
    assert len(pd.read_csv(pipeline / "metrics/confusion.csv")) == 2 * SMALL_PER_FOLDER
    shown = sh(["dvc", "metrics", "show", "--json"], pipeline).stdout
    (workspace,) = json.loads(shown).values()
    assert workspace["data"]["metrics/eval.json"]["data"]["test"]["accuracy"] > 0.6


def test_one_mlflow_run_holds_params_and_metrics(pipeline):
    client, runs = mlflow_runs(pipeline)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["train.units"] == "8" and run.data.params["pad.max_len"] == "64"
    report = json.loads((pipeline / "metrics/eval.json").read_text())
    assert run.data.metrics["test.accuracy"] == report["test"]["accuracy"]
    assert run.data.metrics["test_short.accuracy"] == report["test_short"]["accuracy"]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1]
    assert json.loads((pipeline / "metrics/eval.json").read_text())["mlflow_run_id"] == run.info.run_id


def test_second_repro_runs_nothing(clone, real_archive):
    project = clone(keep_mlflow=True)
    result = sh(["dvc", "repro"], project, IMDB_ARCHIVE=str(real_archive))
    assert stages_run(result.stdout) == [] and "up to date" in result.stdout


def test_train_param_change_reruns_train_and_evaluate_only_here_mirrored_on_jax(clone, real_archive):
    """The param changed: mirrored on two CPU devices on JAX (TensorFlow: test_backends), a second run in the store."""
    project = clone({"train": {"backend": "jax", "distribute": "mirrored"}}, keep_mlflow=True)
    result = sh(["dvc", "repro"], project, IMDB_ARCHIVE=str(real_archive), TRAIN_CPU_DEVICES="2")
    assert stages_run(result.stdout) == ["train", "evaluate", "compare"]
    assert "oneDNN" not in result.stdout + result.stderr  # TensorFlow, imported by Keras on JAX, stays quiet
    _, runs = mlflow_runs(project)
    assert [run.data.params["train.distribute"] for run in runs] == ["none", "mirrored"]
    summary = json.loads((project / "metrics/train.json").read_text())
    assert summary["replicas"] == 2 and summary["val_accuracy"] > 0.6


def test_each_run_shows_the_params_behind_its_metrics(clone, real_archive):
    """The training run holds the params of train and of the stages that made its data (from dvc.lock),
    and evaluate's own; re-evaluating with a new threshold gets a child run showing the new value."""
    project = clone(keep_mlflow=True)
    client, (training,) = mlflow_runs(project)
    assert training.data.params["evaluate.threshold"] == "0.5" and training.data.params["pad.max_len"] == "64"
    assert not any(key.startswith("baseline.") for key in training.data.params)  # not this run's business
    edit_params(project / "params.yaml", {"evaluate": {"threshold": 0.7}})
    result = sh(["dvc", "repro"], project, IMDB_ARCHIVE=str(real_archive))
    assert stages_run(result.stdout) == ["evaluate", "baseline", "compare"]
    report = json.loads((project / "metrics/eval.json").read_text())
    evaluation = client.get_run(report["mlflow_run_id"])
    assert evaluation.info.run_id != training.info.run_id and evaluation.info.status == "FINISHED"
    assert evaluation.data.params["evaluate.threshold"] == "0.7"
    assert evaluation.data.tags["mlflow.parentRunId"] == training.info.run_id
    assert evaluation.data.metrics["test.accuracy"] == report["test"]["accuracy"]
    assert client.get_run(training.info.run_id).data.params["evaluate.threshold"] == "0.5"  # untouched
    compared = json.loads((project / "metrics/compare.json").read_text())  # the new threshold's, in its run
    assert evaluation.data.metrics["compare.mcnemar_p"] == compared["mcnemar_p"]

"""The unlabeled stage: the 50,000 unlabeled reviews labeled by a teacher fit on the train split only,
and train learning from them too, with the lineage in MLflow."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from ruamel.yaml import YAML

from tests.helpers import TINY_PARAMS, sh, stage_cmd

pytestmark = pytest.mark.slow  # run first by make test (tests/conftest.py)

TEACHER = {"unlabeled": {"teacher": "nbsvm", "ngram_max": 1, "limit": 400}, "train": {"unlabeled_weight": 0.5}}


def test_with_no_teacher_the_stage_writes_empty_outputs_and_logs_no_run(reproduced):
    with np.load(reproduced / "data/unlabeled/labeled_by_teacher.npz") as data:
        assert data["x"].shape[0] == 0 and data["p"].shape == (0,)
    assert json.loads((reproduced / "data/unlabeled/run.json").read_text()) == {"run_id": None}
    client = MlflowClient(tracking_uri=f"sqlite:///{reproduced / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sentiment")
    assert client.search_runs([experiment.experiment_id], filter_string="tags.stage = 'unlabeled'") == []


def test_train_learns_from_teacher_labeled_reviews_with_lineage(clone, real_archive):
    project = clone(TEACHER, keep_mlflow=True)
    result = sh(["dvc", "repro"], project, IMDB_ARCHIVE=str(real_archive))
    assert [
        stage
        for stage in ("fetch", "split", "pad", "unlabeled", "train", "evaluate", "baseline")
        if f"Running stage '{stage}'" in result.stdout
    ] == ["unlabeled", "train", "evaluate"]
    with (
        np.load(project / "data/unlabeled/labeled_by_teacher.npz") as data,
        np.load(project / "data/padded/train.npz") as train,
    ):
        assert data["x"].shape == (400, train["x"].shape[1]) and data["x"].max() < 5000
        assert ((data["p"] > 0) & (data["p"] < 1)).all() and 0.2 < (data["p"] > 0.5).mean() < 0.8
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    teacher_run = client.get_run(json.loads((project / "data/unlabeled/run.json").read_text())["run_id"])
    assert teacher_run.info.status == "FINISHED" and teacher_run.data.params["unlabeled.teacher"] == "nbsvm"
    assert teacher_run.data.metrics["reviews"] == 400
    training = client.get_run(json.loads((project / "models/mlflow_run.json").read_text())["run_id"])
    assert training.data.tags["unlabeled_run_id"] == teacher_run.info.run_id
    lock = YAML(typ="safe").load((project / "dvc.lock").read_text())
    (out,) = lock["stages"]["unlabeled"]["outs"]
    assert training.data.tags["data.unlabeled.md5"] == out["md5"]
    assert training.data.params["train.unlabeled_weight"] == "0.5"
    assert training.data.metrics["val_accuracy"] > 0.6


def test_the_teacher_never_reads_validation_or_test_text(clone):
    """The stage's declared inputs hold no validation or test text, and it runs with them gone."""
    project = clone(TEACHER)
    deps = YAML(typ="safe").load((project / "dvc.yaml").read_text())["stages"]["unlabeled"]["deps"]
    assert not [
        dep for dep in deps if dep.startswith("data/") and ("val" in dep or "test" in dep or dep == "data/split")
    ]
    for path in (
        "data/split/val.parquet",
        "data/split/test.parquet",
        "data/padded/val.npz",
        "data/padded/test.npz",
        "data/padded/test_short.npz",
    ):
        (project / path).unlink()
    sh(stage_cmd(project, "unlabeled"), project)
    train = pd.read_parquet(project / "data/split/train.parquet")
    assert len(train) == TINY_PARAMS["split"]["train_size"]  # what it learned from: the train split only

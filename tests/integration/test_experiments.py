"""Experiments: the baseline stage, model options, queued sweeps into one MLflow store, multi-device
training and a DVC remote — all real: real dvc commands, real training on the real reviews."""

from __future__ import annotations

import filecmp
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from ruamel.yaml import YAML

from tests.helpers import assert_alias_on_the_best, sh, stage_cmd
from tests.integration.test_pipeline import STAGES, stages_run

pytestmark = pytest.mark.slow  # run first by make test (tests/conftest.py)


def store(project: Path) -> tuple[MlflowClient, str]:
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    return client, client.get_experiment_by_name("imdb-sentiment").experiment_id


def test_baseline_is_scored_like_evaluate_and_tagged_in_mlflow(reproduced):
    baseline = json.loads((reproduced / "metrics/baseline.json").read_text())
    evaluated = json.loads((reproduced / "metrics/eval.json").read_text())
    for split in ("val", "test"):
        assert baseline[split].keys() == evaluated[split].keys()
    # Unigram TF-IDF + logistic regression is a strong yardstick even on TINY_PARAMS' 1,500 reviews (~0.83).
    assert 0.8 < baseline["val"]["accuracy"] < 1 and 0.8 < baseline["test"]["accuracy"] < 1

    client, experiment_id = store(reproduced)
    (run,) = client.search_runs([experiment_id], filter_string="tags.role = 'baseline'")
    assert run.info.run_id == baseline["mlflow_run_id"] and run.data.tags["stage"] == "baseline"
    assert run.data.metrics["test.accuracy"] == baseline["test"]["accuracy"]
    assert run.data.params["baseline.ngram_max"] == "1" and run.data.params["baseline.max_features"] == "20000"
    shown = json.loads(sh(["dvc", "metrics", "show", "--json"], reproduced).stdout)
    (workspace,) = shown.values()
    assert workspace["data"]["metrics/baseline.json"]["data"]["test"]["accuracy"] == baseline["test"]["accuracy"]


def test_two_layer_bidirectional_masked_gru_with_early_stopping(clone):
    project = clone(
        {
            "train": {
                "backend": "jax",
                "cell": "gru",
                "layers": 2,
                "bidirectional": True,
                "mask_padding": True,
                "pooling": "mean",
                "dropout": 0.2,
                "optimizer": "adam",
                "learning_rate": 0.01,
                "epochs": 2,
                "batch_size": 256,
                "early_stopping": 1,
            }
        }
    )
    result = sh(["dvc", "repro"], project)
    assert stages_run(result.stdout) == ["train", "evaluate", "compare"]

    with zipfile.ZipFile(project / "models/model.keras") as saved:
        config = json.loads(saved.read("config.json"))["config"]["layers"]
    kinds = [layer["class_name"] for layer in config]
    assert kinds == ["InputLayer", "Embedding", "Bidirectional", "Bidirectional", "GlobalAveragePooling1D", "Dense"]
    assert config[1]["config"]["mask_zero"] is True
    assert [layer["config"]["layer"]["class_name"] for layer in config[2:4]] == ["GRU", "GRU"]
    assert [layer["config"]["layer"]["config"]["dropout"] for layer in config[2:4]] == [0.2, 0.2]
    # Early stopping restores the best epoch: evaluate scores the validation loss of that epoch.
    val_losses = pd.read_csv(project / "metrics/history.csv")["val_loss"]
    evaluated = json.loads((project / "metrics/eval.json").read_text())
    assert json.loads((project / "metrics/train.json").read_text())["epochs"] == len(val_losses) <= 2
    assert evaluated["val"]["loss"] == pytest.approx(val_losses.min(), abs=1e-3)


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_multi_worker_without_a_cluster_is_one_line(clone, backend):
    project = clone({"train": {"backend": backend, "distribute": "multi_worker"}})
    before = (project / "models/model.keras").read_bytes()
    result = sh(stage_cmd(project, "train"), project, check=False)  # dvc.yaml's own command
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert (
        line.startswith(f"error: train.distribute: multi_worker on {backend} needs ")
        and "Traceback" not in result.stderr
    )
    assert (project / "models/model.keras").read_bytes() == before


def run_queue(project: Path, **env: str) -> str:
    """The queued experiments run two at a time, as docs/params.md says (dvc waits for the last, following
    their logs: no `dvc queue status` every few seconds), then the queue's status table."""
    sh(["dvc", "exp", "run", "--run-all", "-j", "2"], project, **env)  # the queue's workers inherit env
    return sh(["dvc", "queue", "status"], project).stdout


def failed_task_logs(project: Path, status: str) -> str:
    """The status table, then the log of each task that did not succeed (`dvc queue logs` takes one task)."""
    tasks = [line.split()[0] for line in status.splitlines()[1:] if line.split() and line.split()[-1] == "Failed"]
    logs = [sh(["dvc", "queue", "logs", task], project, check=False) for task in tasks]
    return status + "".join(f"\n--- {task}\n{log.stdout}{log.stderr}" for task, log in zip(tasks, logs, strict=False))


def test_queued_sweep_lands_every_experiment_in_the_project_store(clone):
    project = clone()
    (project / "mlflow.db").unlink()  # no store: the two experiments race to create it
    # A sweep of an option whose model differs in training only (imdb_rnn.models.adversarial):
    # each saved model evaluates.
    sh(["dvc", "exp", "run", "--queue", "-S", "train.adversarial=0.2,0.4"], project)
    status = run_queue(project)
    assert status.count("Success") == 2, failed_task_logs(project, status)

    shown = json.loads(sh(["dvc", "exp", "show", "--json"], project).stdout)
    experiments = {exp["name"]: exp["revs"][0]["data"] for rev in shown for exp in rev.get("experiments") or []}
    assert len(experiments) == 2

    client, experiment_id = store(project)
    runs = client.search_runs([experiment_id], filter_string="tags.stage = 'train'")
    assert sorted(run.data.tags["DVC_EXP_NAME"] for run in runs) == sorted(experiments)
    for run in runs:
        data = experiments[run.data.tags["DVC_EXP_NAME"]]
        assert run.info.status == "FINISHED" and run.info.run_name == run.data.tags["DVC_EXP_NAME"]
        strength = data["params"]["params.yaml"]["data"]["train"]["adversarial"]
        assert run.data.params["train.adversarial"] == str(strength)
        # evaluate resumed the same run in the same store; dvc exp show has the same number
        test_accuracy = data["metrics"]["metrics/eval.json"]["data"]["test"]["accuracy"]
        assert run.data.metrics["test.accuracy"] == test_accuracy
        assert run.info.artifact_uri.startswith((project / "mlartifacts").as_uri())
    assert sorted(run.data.params["train.adversarial"] for run in runs) == ["0.2", "0.4"]
    assert_alias_on_the_best(client, swept="train.adversarial")  # two evaluations finishing together


def test_remote_push_then_pull_in_a_fresh_clone_restores_everything(clone, tmp_path):
    project = clone()
    sh(["dvc", "remote", "add", "-d", "storage", str(tmp_path / "remote")], project)
    sh(["git", "add", "-A"], project)
    sh(["git", "commit", "-qm", "results and remote"], project)
    sh(["dvc", "push"], project)

    fresh = tmp_path / "fresh"
    sh(["git", "clone", "-q", str(project), str(fresh)], tmp_path)
    sh(["dvc", "pull"], fresh)
    lock = YAML(typ="safe").load((project / "dvc.lock").read_text())
    outputs = [out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])]
    assert {"data/raw/reviews.parquet", "models/model.keras", "metrics/eval.json", "metrics/baseline.json"} <= set(
        outputs
    )
    for path in outputs:
        original, restored = project / path, fresh / path
        if original.is_dir():
            comparison = filecmp.dircmp(original, restored)
            assert not (comparison.left_only or comparison.right_only or comparison.diff_files), path
            assert (
                filecmp.cmpfiles(original, restored, comparison.common_files, shallow=False)[0]
                == comparison.common_files
            )
        else:
            assert filecmp.cmp(original, restored, shallow=False), path

    result = sh(["dvc", "repro"], fresh, IMDB_ARCHIVE="/nonexistent")  # nothing may need the archive
    assert stages_run(result.stdout) == [] and "up to date" in result.stdout
    assert set(STAGES) <= set(lock["stages"])

"""What an interrupted or killed stage leaves in a real MLflow store (SQLite, in a temp folder): a run
of a killed process ends KILLED at the next stage, and the version it registered is withdrawn; an
evaluation that did not finish leaves no registered version and the champion where it was."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pytest

from imdb_rnn.tracking import promotion, registry
from imdb_rnn.tracking import store as tracking
from tests.helpers import command_env, empty_store

NAME = "tiny-model"


@pytest.fixture()
def store(tmp_path, monkeypatch):
    uri = empty_store(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


def register(client, accuracy: float, registered: list[str]) -> str:
    """A version of a run, scored and promoted as evaluate does."""
    with tracking.mlflow.start_run() as run:
        version = client.create_model_version(NAME, os.getcwd(), run_id=run.info.run_id).version
    registered.append(version)
    client.set_model_version_tag(NAME, version, promotion.METRIC, str(accuracy))
    promotion.promote(NAME, version, "best_val")
    return version


@pytest.fixture()
def champion(store) -> tuple[mlflow.MlflowClient, str]:
    """(client, version): a registered model whose first version, val.accuracy 0.8, holds the alias."""
    tracking.use_experiment("e")
    client = mlflow.MlflowClient()
    client.create_registered_model(NAME)
    with registry.withdrawn_unless_finished(NAME) as registered:
        return client, register(client, 0.8, registered)


def test_a_killed_process_run_ends_killed_and_its_version_is_withdrawn_at_the_next_stage(store, champion, tmp_path):
    client, first = champion
    killed = (  # an evaluation that registers and promotes a better version, then is SIGKILLed
        "import os, signal\n"
        "from imdb_rnn.tracking import promotion, store as tracking\n"
        "experiment = tracking.use_experiment('e')\n"
        "run = tracking.mlflow.start_run(experiment_id=experiment, tags=tracking.run_tags('evaluate'))\n"
        "client = tracking.mlflow.MlflowClient()\n"
        f"version = client.create_model_version('{NAME}', os.getcwd(), run_id=run.info.run_id).version\n"
        f"client.set_model_version_tag('{NAME}', version, promotion.METRIC, '0.9')\n"
        f"promotion.promote('{NAME}', version, 'best_val')\n"
        "print(run.info.run_id, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", killed], cwd=tmp_path, env=command_env(MLFLOW_TRACKING_URI=store), capture_output=True
    )
    assert result.returncode == -9, result.stderr
    run_id = result.stdout.decode().strip()
    assert client.get_run(run_id).info.status == "RUNNING" and promotion.holder(client, NAME) == int(first) + 1
    experiment = tracking.use_experiment("e")  # the next stage
    assert client.get_run(run_id).info.status == "KILLED"
    assert [version.version for version in client.search_model_versions(f"name = '{NAME}'")] == [first]
    assert promotion.holder(client, NAME) == int(first)
    with tracking.mlflow.start_run(experiment_id=experiment, tags=tracking.run_tags("train")) as alive:
        tracking.use_experiment("e")  # a run whose process is alive is left alone
        assert client.get_run(alive.info.run_id).info.status == "RUNNING"


def test_an_evaluation_that_does_not_finish_leaves_no_version_and_the_champion_in_place(champion):
    client, first = champion
    assert promotion.holder(client, NAME) == int(first)
    with pytest.raises(KeyboardInterrupt), registry.withdrawn_unless_finished(NAME) as registered:
        second = register(client, 0.9, registered)
        assert promotion.holder(client, NAME) == int(second)  # promoted, then Ctrl-C before the outputs are in place
        raise KeyboardInterrupt
    assert [version.version for version in client.search_model_versions(f"name = '{NAME}'")] == [first]
    assert promotion.holder(client, NAME) == int(first)

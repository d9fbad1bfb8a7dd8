"""The `champion` alias on a real MLflow store (SQLite, and the PostgreSQL server in
test_postgres_tracking.py): versions registered as evaluate registers them, tagged with their scores,
promoted by the rule of mlflow.promote, by hand with imdb-promote, and by processes at once."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient

from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.tracking import promotion
from imdb_rnn.tracking import store as tracking
from tests.helpers import BIN, ROOT, Server, best_version, champion, edit_params, sh
from tests.integration.test_mlflow_server import NEGATIVE, POSITIVE

pytestmark = pytest.mark.slow  # run first by make test (tests/conftest.py)

NAME = "imdb-sentiment-rnn"


def register(client: MlflowClient, experiment_id: str, val_accuracy: float, split_md5: str = "a" * 32) -> str:
    """A version as evaluate leaves it before promoting: a run with its metrics, a version with them as
    tags, and with what they are comparable with (the split's md5, the threshold)."""
    run = client.create_run(experiment_id, run_name=f"val-{val_accuracy}")
    client.log_metric(run.info.run_id, "val.accuracy", val_accuracy)
    client.log_param(run.info.run_id, "train.units", "8")
    client.log_text(run.info.run_id, "flavors: {}\n", "model/MLmodel")  # imdb-promote checks the model is there
    client.set_terminated(run.info.run_id)
    try:
        client.create_registered_model(NAME)
    except Exception:
        pass
    version = client.create_model_version(NAME, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.set_model_version_tag(NAME, version.version, "val.accuracy", str(val_accuracy))
    client.set_model_version_tag(NAME, version.version, "test.accuracy", str(val_accuracy - 0.01))
    client.set_model_version_tag(NAME, version.version, "data.split.md5", split_md5)
    client.set_model_version_tag(NAME, version.version, "evaluate.threshold", "0.5")
    return str(version.version)


def evaluated(
    client, experiment_id, val_accuracy: float, mode: str = "best_val", **split
) -> tuple[str, dict[str, str]]:
    version = register(client, experiment_id, val_accuracy, **split)
    line = promotion.promote(NAME, version, mode, {"val.accuracy": val_accuracy, "test.accuracy": val_accuracy - 0.01})
    assert line.startswith(f"{NAME}@champion: ") and "\n" not in line
    return version, client.get_model_version(NAME, version).tags


@pytest.fixture()
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with monkeypatch.context() as here:  # its artifacts beside the store, not in the checkout's mlartifacts/
        here.chdir(tmp_path)
        experiment_id = tracking.use_experiment("imdb-sentiment")
    return MlflowClient(tracking_uri=uri), experiment_id, uri


def test_the_first_version_is_champion_a_better_one_takes_the_alias_a_worse_or_equal_one_does_not(store):
    client, experiment_id, _ = store
    first, tags = evaluated(client, experiment_id, 0.80)
    assert champion(client) == first and tags["promotion.promoted"] == "true"
    assert tags["promotion.reason"].startswith("the first version to compete")

    better, tags = evaluated(client, experiment_id, 0.85)
    assert champion(client) == better
    assert tags["promotion.against"] == first and tags["promotion.val_accuracy_delta"] == "+0.0500"

    worse, tags = evaluated(client, experiment_id, 0.82)
    assert champion(client) == better
    assert tags["promotion.promoted"] == "false" and tags["promotion.against"] == better
    assert tags["promotion.val_accuracy_delta"] == "-0.0300"
    reason = f"val.accuracy 0.8200 does not beat version {better}'s val.accuracy 0.8500 (-0.0300)"
    assert tags["promotion.reason"] == reason

    _, tags = evaluated(client, experiment_id, 0.85)
    assert champion(client) == better and tags["promotion.promoted"] == "false" and "tie" in tags["promotion.reason"]

    description = client.get_model_version(NAME, worse).description
    assert "val.accuracy 0.8200 test.accuracy 0.8100" in description and "Run val-0.82" in description


def test_a_version_scored_on_another_split_never_takes_the_alias_but_by_hand(store):
    client, experiment_id, _ = store
    first, _ = evaluated(client, experiment_id, 0.8386)
    other, tags = evaluated(client, experiment_id, 0.8624, split_md5="b" * 32)  # another split.seed
    assert champion(client) == first and tags["promotion.promoted"] == "false"
    assert tags["promotion.reason"].startswith(f"not compared with version {first}: scored on other validation")
    assert promotion.pin(NAME, other).startswith(f"{NAME}@champion: moved from version {first} to version {other}")
    assert champion(client) == other


def test_never_and_always_behave_as_named(store):
    client, experiment_id, _ = store
    _, tags = evaluated(client, experiment_id, 0.90, mode="never")
    assert promotion.holder(client, NAME) is None and tags["promotion.promoted"] == "false"
    low, _ = evaluated(client, experiment_id, 0.70)
    assert champion(client) == low  # a `never` version does not compete, however good
    forced, tags = evaluated(client, experiment_id, 0.60, mode="always")
    assert champion(client) == forced and tags["promotion.against"] == low
    assert tags["promotion.val_accuracy_delta"] == "-0.1000"
    better, _ = evaluated(client, experiment_id, 0.65)  # later versions compete with the forced one
    assert champion(client) == better
    evaluated(client, experiment_id, 0.99, mode="never")
    assert champion(client) == better


def promote_cli(uri: str, *args: str, cwd: Path = ROOT):
    return sh(["imdb-promote", *args], cwd, check=False, MLFLOW_TRACKING_URI=uri)


def test_manual_promotion_moves_the_alias_in_one_line_and_refuses_an_unknown_version(store):
    client, experiment_id, uri = store
    first, _ = evaluated(client, experiment_id, 0.80)
    best, _ = evaluated(client, experiment_id, 0.90)

    result = promote_cli(uri, first)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"{NAME}@champion: moved from version {best} to version {first} (val.accuracy 0.9000 → val.accuracy 0.8000)\n"
    )
    assert champion(client) == first
    later, _ = evaluated(client, experiment_id, 0.85)  # competes with the version promoted by hand
    assert champion(client) == later

    for wrong, message in (("99", f"error: {NAME}: no version 99 (versions 1 to 3)"), ("x", "is not a version")):
        result = promote_cli(uri, wrong)
        assert result.returncode == 1 and result.stdout == ""
        (line,) = result.stderr.strip().splitlines()
        assert message in line, line
    assert champion(client) == later
    # a version whose model files are gone does not take the alias (`make serve` failed in 43 lines)
    shutil.rmtree(
        Path(client.get_run(client.get_model_version(NAME, first).run_id).info.artifact_uri[len("file://") :])
    )
    with pytest.raises(
        PipelineError, match=rf"{NAME}: version {first}: its model files are gone \(no MLmodel in runs:/"
    ):
        promotion.pin(NAME, first)
    assert champion(client) == later


def _evaluate_at_once(uri: str, val_accuracy: float, start, split_md5: str) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = uri
    tracking.use_experiment("imdb-sentiment")
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.get_experiment_by_name("imdb-sentiment").experiment_id
    version = register(client, experiment_id, val_accuracy, split_md5)
    start.wait()
    promotion.promote(NAME, version, "best_val")


def promote_at_once(uri: str, accuracies: list[float], split_md5: str = "a" * 32) -> None:
    """Processes that register, then promote at the same instant (a Barrier): each its own connection."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(accuracies))
    workers = [context.Process(target=_evaluate_at_once, args=(uri, acc, start, split_md5)) for acc in accuracies]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0] * len(workers)


def test_evaluations_promoting_at_once_leave_the_alias_on_the_best(store):
    client, experiment_id, uri = store
    evaluated(client, experiment_id, 0.50)  # a champion to beat
    promote_at_once(uri, [0.81, 0.86, 0.83, 0.84])
    assert champion(client) == best_version(client)
    assert float(client.get_model_version(NAME, champion(client)).tags["val.accuracy"]) == 0.86


def test_make_serve_answers_with_the_champion_not_the_latest_version(clone, tmp_path):
    """A model trained at a rate too small to learn in an epoch registers a worse version 2: the alias
    stays on version 1, and `make serve` (the Makefile's own target, its MODEL_URI default) answers
    with version 1's labels."""
    project = clone(keep_mlflow=True)
    shutil.copy2(ROOT / "Makefile", project / "Makefile")
    edit_params(project / "params.yaml", {"train": {"learning_rate": 1e-6}})
    result = sh(["dvc", "repro", "evaluate"], project)
    assert f"{NAME}@champion: stays version 1 — version 2: val.accuracy" in result.stdout, result.stdout
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    tags = client.get_model_version(NAME, "2").tags
    assert champion(client) == "1" and tags["promotion.promoted"] == "false" and tags["promotion.against"] == "1"
    assert "train.learning_rate=" in client.get_model_version(NAME, "2").description

    serving = Server(
        ["make", "-o", ".venv/.installed-cpu", f"BIN={BIN}", "serve"],  # the venv is this one: no setup
        cwd=project,
        log=tmp_path / "serve.log",
        ready_path="/ping",
        where=lambda port: [f"SERVE_PORT={port}"],
        timeout=240,
    )
    try:
        texts = [POSITIVE, NEGATIVE, "A fine film, good enough.", "Not bad, not great either."]
        response = requests.post(
            serving.url + "/invocations", json={"dataframe_records": [{"text": t} for t in texts]}, timeout=120
        )
    finally:
        serving.stop()
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == [int(p["probability"] >= 0.5) for p in predictions]  # version 1's
    assert any(0.5 <= p["probability"] < 0.99 for p in predictions)  # where version 2 would say 0
    assert "models:/imdb-sentiment-rnn@champion" in (tmp_path / "serve.log").read_text()

"""A shared tracking server on a real database: a PostgreSQL cluster of the test's own (initdb and
pg_ctl in a temp dir, 127.0.0.1, a free port), `mlflow server` on it with proxied artifacts, and a
queued sweep of two experiments run at once against it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from imdb_rnn.tracking import store as tracking
from tests.helpers import Server, assert_alias_on_the_best, best_version, champion, free_port, sh
from tests.integration.test_experiments import failed_task_logs, run_queue
from tests.integration.test_mlflow_server import MODEL_NAME
from tests.integration.test_promotion import promote_at_once

pytestmark = pytest.mark.slow
PG_ROOT = Path("/usr/lib/postgresql")  # Debian's postgresql package (.ci/run installs it)


def pg_bin() -> Path:
    versions = sorted(PG_ROOT.glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    if not versions:
        pytest.fail(
            f"PostgreSQL is not installed ({PG_ROOT}/*/bin/initdb): apt-get install postgresql, as .ci/run does",
            pytrace=False,
        )
    return versions[-1].parent


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL cluster; yields its URI for a database `mlflow`. PostgreSQL refuses to
    run as root, so as root it runs as the package's `postgres` user, in a dir that user owns."""
    bin_dir, port = pg_bin(), free_port()
    root = Path(tempfile.mkdtemp(prefix="imdb-rnn-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    sh([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "mlflow", "--auth=trust", "-E", "UTF8"], root)
    # Only TCP on 127.0.0.1; its socket file in its own dir, not in /var/run.
    sh(
        [
            *as_user,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {root}",
            "start",
        ],
        root,
    )
    try:
        sh([*as_user, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "mlflow", "mlflow"], root)
        # +psycopg2: SQLAlchemy 2.1's default PostgreSQL driver is psycopg 3; the lock has psycopg2.
        yield f"postgresql+psycopg2://mlflow@127.0.0.1:{port}/mlflow"
    finally:
        sh([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], root, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_server(postgres, tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-postgres")
    server = Server(
        [
            "mlflow",
            "server",
            "--backend-store-uri",
            postgres,
            "--artifacts-destination",
            str(root / "artifacts"),
            "--workers",
            "2",
        ],
        cwd=root,
        log=root / "server.log",
        ready_path="/health",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )
    yield server
    server.stop()


def test_queued_sweep_lands_every_run_and_model_version_on_a_postgres_server(clone, postgres_server):
    project = clone()
    (project / "mlflow.db").unlink()  # none: the runs go to the server
    uri = {"MLFLOW_TRACKING_URI": postgres_server.url}
    for units in (4, 6):  # two experiments, queued one by one as a team would, run at once
        sh(["dvc", "exp", "run", "--queue", "-S", f"train.units={units}"], project, **uri)
    status = run_queue(project, **uri)  # the queue's workers inherit the server's URI
    assert status.count("Success") == 2, failed_task_logs(project, status)

    shown = json.loads(sh(["dvc", "exp", "show", "--json"], project).stdout)
    experiments = {exp["name"]: exp["revs"][0]["data"] for rev in shown for exp in rev.get("experiments") or []}
    assert len(experiments) == 2

    client = MlflowClient(tracking_uri=postgres_server.url)
    experiment_id = client.get_experiment_by_name("imdb-sentiment").experiment_id
    runs = client.search_runs([experiment_id])  # every run on the server: none lost, none left RUNNING
    assert sorted(run.data.tags.get("DVC_EXP_NAME") for run in runs) == sorted(experiments)
    assert {run.info.status for run in runs} == {"FINISHED"}
    assert sorted(run.data.params["train.units"] for run in runs) == ["4", "6"]
    for run in runs:
        data = experiments[run.data.tags["DVC_EXP_NAME"]]
        assert run.data.metrics["test.accuracy"] == data["metrics"]["metrics/eval.json"]["data"]["test"]["accuracy"]
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied: stored by the server
        assert "keras/model.keras" in {item.path for item in client.list_artifacts(run.info.run_id, "keras")}
    versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
    assert sorted(int(version.version) for version in versions) == [1, 2]
    assert sorted(version.run_id for version in versions) == sorted(run.info.run_id for run in runs)
    assert_alias_on_the_best(client, swept="train.units")  # two at a time, on the shared server
    assert not (project / "mlflow.db").exists()  # nothing went to a local store instead


def test_runs_logging_the_same_new_dataset_at_once_each_record_it(postgres_server, monkeypatch):
    """A sweep's experiments log the same padded data as they start: MLflow looks the dataset up and
    then inserts it, so runs released together all insert it and all but one hit its unique key."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", postgres_server.url)
    experiment_id = tracking.use_experiment("same-dataset-at-once")
    features, targets = np.arange(24).reshape(8, 3), np.array([0, 1] * 4)
    together = threading.Barrier(8)

    def start_and_log(_) -> str:
        with mlflow.start_run(experiment_id=experiment_id) as run:  # MLflow keeps a run per thread
            together.wait()
            tracking.log_dataset(features, targets, Path("data/padded/train.npz"), context="training")
            return run.info.run_id

    with ThreadPoolExecutor(8) as pool:
        run_ids = list(pool.map(start_and_log, range(8)))
    client = MlflowClient(tracking_uri=postgres_server.url)
    logged = [client.get_run(run_id).inputs.dataset_inputs for run_id in run_ids]
    assert [len(inputs) for inputs in logged] == [1] * 8
    assert len({inputs[0].dataset.digest for inputs in logged}) == 1
    assert {inputs[0].tags[0].value for inputs in logged} == {"training"}


def test_evaluations_promoting_at_once_leave_the_alias_on_the_best_on_a_postgres_server(postgres_server, monkeypatch):
    """Four processes register a version each, then promote at the same instant, on the shared server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", postgres_server.url)
    client = MlflowClient(tracking_uri=postgres_server.url)
    tracking.use_experiment("imdb-sentiment")
    swept = client.search_model_versions(f"name = '{MODEL_NAME}'")  # the sweep's, if it ran first
    before = len(swept)
    # Scored on the sweep's validation reviews, so that they compete with its champion.
    (split_md5,) = {version.tags["data.split.md5"] for version in swept} or {"a" * 32}
    promote_at_once(postgres_server.url, [0.991, 0.996, 0.993, 0.994], split_md5)  # better than any tiny model
    assert len(client.search_model_versions(f"name = '{MODEL_NAME}'")) == before + 4
    assert champion(client) == best_version(client)
    assert client.get_model_version_by_alias(MODEL_NAME, "champion").tags["val.accuracy"] == "0.996"

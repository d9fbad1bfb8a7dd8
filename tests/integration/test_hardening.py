"""Round three of hardening, on the real pipeline: a run file naming another run, token ids outside
the model's vocabulary, KERAS_BACKEND in the shell, read-only and full output folders and stores,
and requests the served model's server could not parse. Each: one line, non-zero exit (or a 4xx),
nothing half written, no MLflow run changed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import requests
from mlflow import MlflowClient

from tests.helpers import Server, full_disk, read_only, sh, stage_cmd
from tests.integration.test_mlflow_server import MODEL_NAME, POSITIVE

pytestmark = pytest.mark.slow  # run first by make test (tests/conftest.py)

EXPERIMENT = "imdb-sentiment"


def store(project):
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    return client, client.get_experiment_by_name(EXPERIMENT).experiment_id


def snapshot(project):
    """Every run of the store with its metrics' full histories and tags, and every model version."""
    client, experiment_id = store(project)
    runs = {
        run.info.run_id: (
            run.info.status,
            {key: [m.value for m in client.get_metric_history(run.info.run_id, key)] for key in run.data.metrics},
            dict(run.data.tags),
        )
        for run in client.search_runs([experiment_id])
    }
    versions = sorted(v.version for v in client.search_model_versions(f"name = '{MODEL_NAME}'"))
    return runs, versions


def files(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.name != ".filler"}


def test_evaluate_refuses_a_run_file_naming_a_run_that_is_not_its_training_run(clone):
    """Pointed at the baseline's run, evaluate exited 0, registered a version and appended the RNN's
    test.accuracy to the baseline's history."""
    project = clone(keep_mlflow=True)
    client, experiment_id = store(project)
    (baseline,) = client.search_runs([experiment_id], filter_string="tags.role = 'baseline'")
    other = client.create_run(client.create_experiment("another"), tags={"stage": "train"}).info.run_id
    before, metrics = snapshot(project), files(project / "metrics")
    run_file = project / "models" / "mlflow_run.json"
    for run_id, problem in [
        (baseline.info.run_id, "is not a training run (its role: 'baseline')"),
        (other, f"is in experiment {client.get_run(other).info.experiment_id}, not mlflow.experiment_name's"),
        ("0" * 32, "no such run in the MLflow store"),
    ]:
        run_file.write_text(json.dumps({"run_id": run_id, "experiment_id": experiment_id}))
        result = sh(stage_cmd(project, "evaluate"), project, check=False)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"error: models/mlflow_run.json: run {run_id}") and problem in result.stderr
    assert snapshot(project) == before and files(project / "metrics") == metrics


def test_token_ids_outside_the_models_vocabulary_are_one_line_not_nan(clone):
    """A vocabulary larger than the model's made predict print "probability": NaN with exit 0, and
    evaluate fail with a 31-line `Input contains NaN`."""
    project = clone(keep_mlflow=True)
    vocabulary = json.loads((project / "data/padded/vocab.json").read_text())
    vocabulary["tokens"] += [f"extra{index}" for index in range(10_000)]
    (project / "bigger.json").write_text(json.dumps(vocabulary))
    result = sh(["imdb-predict", "--vocab", "bigger.json", POSITIVE], project, check=False)
    assert result.returncode == 1 and result.stdout == "", result.stdout
    assert result.stderr == (
        "error: bigger.json: 15,000 tokens, but the model models/model.keras reads 5,000 ids: "
        "the vocabulary and the model are not from the same pipeline run\n"
    )

    padded = project / "data/padded"
    with np.load(padded / "test.npz") as data:
        x, y = data["x"].copy(), data["y"]
    x[3, -1] = 5_000
    (padded / "test.npz").chmod(0o644)  # DVC's cache links are read-only
    (padded / "test.npz").unlink()
    np.savez(padded / "test.npz", x=x, y=y)
    before = snapshot(project)
    result = sh(stage_cmd(project, "evaluate"), project, check=False)
    assert result.returncode == 1 and result.stderr == (
        "error: data/padded/test.npz: token ids from 0 to 5,000, but the model reads ids 0 to 4,999 only "
        "(its vocabulary): the data and the model are not from the same pipeline run\n"
    )
    assert snapshot(project) == before


def test_keras_backend_in_the_shell_does_not_override_the_project(reproduced, tmp_path):
    """KERAS_BACKEND=torch (not installed) gave 35-135-line tracebacks in pad and predict."""
    expected = sh(["imdb-predict", POSITIVE], reproduced).stdout
    for backend in ("torch", "no-such-backend"):
        assert sh(["imdb-predict", POSITIVE], reproduced, KERAS_BACKEND=backend).stdout == expected
    out = tmp_path / "padded"
    sh(["python", "-m", "stages.pad", "data/split", str(out)], reproduced, KERAS_BACKEND="torch")
    assert (out / "vocab.json").read_bytes() == (reproduced / "data/padded/vocab.json").read_bytes()
    for split in ("train", "val", "test", "test_short"):
        with np.load(out / f"{split}.npz") as new, np.load(reproduced / f"data/padded/{split}.npz") as old:
            assert all(np.array_equal(new[key], old[key]) for key in ("x", "y"))


def test_evaluate_on_a_read_only_metrics_folder_is_one_line_and_changes_no_run(clone):
    project = clone(keep_mlflow=True)
    before, metrics = snapshot(project), files(project / "metrics")
    with read_only(project / "metrics"):
        result = sh(stage_cmd(project, "evaluate"), project, check=False)
    assert result.returncode == 1 and result.stderr == "error: metrics: cannot write: Read-only file system\n"
    assert snapshot(project) == before and files(project / "metrics") == metrics


def test_a_full_mlflow_store_or_artifact_folder_says_disk_full_and_keeps_the_outputs(clone):
    """A full mlflow.db said SQLAlchemy's "Query-invoked autoflush"; a full mlartifacts/ "cannot write
    No space left on device" naming nothing."""
    project = clone(keep_mlflow=True)
    metrics = files(project / "metrics")
    (project / "store").mkdir()
    shutil.move(project / "mlflow.db", project / "store" / "mlflow.db")
    uri = f"sqlite:///{project / 'store' / 'mlflow.db'}"
    with full_disk(project / "store", size="8m"):
        result = sh(stage_cmd(project, "evaluate"), project, check=False, MLFLOW_TRACKING_URI=uri)
    assert result.returncode == 1
    assert result.stderr == f"error: MLflow store {uri} is not usable: disk full (database or disk is full)\n"
    artifacts = project / "mlartifacts"  # this copy's own (clone)
    with full_disk(artifacts, size="64m"):
        result = sh(stage_cmd(project, "evaluate"), project, check=False, MLFLOW_TRACKING_URI=uri)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: MLflow artifact store: cannot write {artifacts}")
    assert result.stderr.endswith(": No space left on device (disk full)\n")
    assert files(project / "metrics") == metrics


def test_the_served_model_answers_what_mlflow_cannot_parse_with_a_4xx_and_one_line(reproduced, tmp_path):
    """No `text` column: a 400 echoing the input over many lines; JSON 100,000 deep: a 500 with a
    RecursionError; an empty Content-Type: a 500 (AttributeError). Served with KERAS_BACKEND=torch in
    the shell, which killed `make serve` after 18 s."""
    serving = Server(
        ["mlflow", "models", "serve", "-m", f"models:/{MODEL_NAME}/latest", "--env-manager", "local"],
        cwd=reproduced,
        log=tmp_path / "serve.log",
        ready_path="/ping",
        MLFLOW_TRACKING_URI=f"sqlite:///{reproduced / 'mlflow.db'}",
        KERAS_BACKEND="torch",
    )
    url = serving.url + "/invocations"
    good = {"dataframe_records": [{"text": POSITIVE}]}
    deep = '{"dataframe_records": ' + "[" * 100_000 + "]" * 100_000 + "}"
    try:
        missing = requests.post(url, json={"dataframe_records": [{"review": POSITIVE}]}, timeout=60)
        nested = requests.post(url, data=deep, headers={"Content-Type": "application/json"}, timeout=60)
        untyped = requests.post(url, data=json.dumps(good), headers={"Content-Type": ""}, timeout=60)
        after = requests.post(url, json=good, timeout=60)
    finally:
        serving.stop()
    assert (missing.status_code, missing.json()["message"]) == (400, "no `text` column in the input")
    assert (nested.status_code, nested.json()["message"]) == (400, "the request's JSON is nested too deep to read")
    assert untyped.status_code == 415 and untyped.text.startswith("no Content-Type header: expected one of ")
    assert "\n" not in missing.text + nested.text + untyped.text
    assert after.status_code == 200 and after.json()["predictions"][0]["label"] == 1
    assert "Traceback" not in (tmp_path / "serve.log").read_text()

"""The pipeline against a real `mlflow server` on 127.0.0.1: the run as the full record, tracking credentials
recorded nowhere, the registered raw-text model served by `mlflow models serve`, the UI in headless Chromium,
and a closed port."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient

from tests import helpers
from tests.helpers import CHROMIUM, CHROMIUM_ARGS, TINY_PARAMS, Server, edit_params, free_port, sh

pytestmark = pytest.mark.slow  # run first by make test (tests/conftest.py)

MODEL_NAME = "imdb-sentiment-rnn"
POSITIVE = "A wonderful, beautiful film. Brilliant acting, a great story, I loved it: one of the best movies ever."
NEGATIVE = "Awful. Boring, stupid and badly acted, a terrible waste of time: the worst movie I have ever seen."
# The values in a metric's row of the compare view (a virtualized grid: names and values are
# separate cells, aligned by their position on the page).
METRIC_ROW = """name => {
  const cells = [...document.querySelectorAll('.ReactVirtualized__Grid__innerScrollContainer > div')];
  const label = cells.find(cell => cell.textContent.trim() === name);
  const top = label.getBoundingClientRect().top;
  return cells.filter(cell => cell !== label && Math.abs(cell.getBoundingClientRect().top - top) < 1)
    .sort((a, b) => a.getBoundingClientRect().left - b.getBoundingClientRect().left)
    .map(cell => cell.textContent.trim());
}"""


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """`mlflow server` with an SQLite store and proxied artifacts (no GenAI job workers: not needed)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    server = Server(
        [
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--workers",
            "1",
        ],
        cwd=root,
        log=root / "server.log",
        ready_path="/health",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )
    yield server
    server.stop()


# Tracking credentials every repro carries, in the URI and in MLflow's own variables: none may be recorded.
SECRETS = {
    "MLFLOW_TRACKING_USERNAME": "env-user-7f3a",
    "MLFLOW_TRACKING_PASSWORD": "env-password-91c2",
    "MLFLOW_TRACKING_TOKEN": "env-token-5d8e",
}
URI_USER, URI_PASSWORD = "uri-user-2b6f", "uri-password-c4e0"


@pytest.fixture(scope="module")
def server_runs(reproduced, tracking_server, real_archive, tmp_path_factory):
    """A copy of the reproduced project, run twice against the server with different params (each
    run trains, evaluates and registers a model version), then back to the first params, which
    DVC restores from its run cache without training; with credentials (SECRETS) in the environment.
    Returns (project, [run A's eval.json, run B's, the restored one], what the three repros printed)."""
    project = tmp_path_factory.mktemp("server-runs") / "project"
    shutil.copytree(reproduced, project, symlinks=True)
    (project / "mlflow.db").unlink()
    shutil.rmtree(project / "mlartifacts", ignore_errors=True)
    uri = tracking_server.url.replace("//", f"//{URI_USER}:{URI_PASSWORD}@")
    reports, printed = [], []
    for units in (6, 12, 6):
        edit_params(project / "params.yaml", {"train": {"units": units}})
        result = sh(["dvc", "repro"], project, IMDB_ARCHIVE=str(real_archive), MLFLOW_TRACKING_URI=uri, **SECRETS)
        reports.append(json.loads((project / "metrics/eval.json").read_text()))
        printed.append(result.stdout + result.stderr)
    assert "Running stage 'train'" not in result.stdout  # the third came from the run cache
    return project, reports, printed


def test_runs_metrics_and_model_versions_are_on_the_server(tracking_server, server_runs, tmp_path, monkeypatch):
    project, (first, second, restored), _ = server_runs
    client = MlflowClient(tracking_uri=tracking_server.url)
    experiment = client.get_experiment_by_name("imdb-sentiment")
    runs = client.search_runs(
        [experiment.experiment_id], filter_string="tags.stage = 'train'", order_by=["attributes.start_time ASC"]
    )
    assert [run.info.run_id for run in runs] == [first["mlflow_run_id"], second["mlflow_run_id"]]
    assert [run.data.params["train.units"] for run in runs] == ["6", "12"]
    # Restored from DVC's run cache: the result still names the run that produced it.
    assert restored == first

    run = runs[1]
    assert run.info.status == "FINISHED"
    assert run.info.run_name.startswith("simple_rnn-u12-e1-")
    assert run.data.metrics["test.accuracy"] == second["test"]["accuracy"]
    assert len(client.get_metric_history(run.info.run_id, "val_accuracy")) == 1

    # Lineage: git state, and each data output's md5 exactly as dvc.lock records it.
    lock = (project / "dvc.lock").read_text()
    commit = sh(["git", "rev-parse", "HEAD"], project).stdout.strip()
    assert run.data.tags["git_commit"] == commit and run.data.tags["git_dirty"] == "true"  # params.yaml edited
    for name in ("raw", "split", "padded"):
        md5 = run.data.tags[f"data.{name}.md5"]
        assert len(md5.removesuffix(".dir")) == 32 and f"md5: {md5}\n" in lock
    (training, _validation) = sorted(run.inputs.dataset_inputs, key=lambda item: item.dataset.name)
    assert (training.dataset.name, training.tags[0].value) == ("train", "training") and training.dataset.digest
    assert json.loads(training.dataset.profile)["features_shape"] == [TINY_PARAMS["split"]["train_size"], 64]

    artifacts = {
        item.path for folder in ("", "plots", "metrics") for item in client.list_artifacts(run.info.run_id, folder)
    }
    assert {
        "params.yaml",
        "dvc.lock",
        "plots/training_curves.png",
        "plots/confusion_matrix.png",
        "plots/roc_curve.png",
        "metrics/eval.json",
        "metrics/train.json",
        "metrics/history.csv",
    } <= artifacts
    png = Path(client.download_artifacts(run.info.run_id, "plots/roc_curve.png", str(tmp_path)))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Each run registered a new version of the raw-text model, tagged with its test metrics.
    versions = sorted(client.search_model_versions(f"name = '{MODEL_NAME}'"), key=lambda v: int(v.version))
    assert [(v.version, v.run_id) for v in versions] == [("1", first["mlflow_run_id"]), ("2", second["mlflow_run_id"])]
    assert versions[1].tags["test.accuracy"] == str(second["test"]["accuracy"])
    assert versions[1].tags["val.accuracy"] == str(second["val"]["accuracy"])
    helpers.assert_alias_on_the_best(client, swept="train.units")  # the champion: the better on validation
    # ... of a model that takes raw text, with a signature and an input example.
    import mlflow.models

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server.url)  # where models:/ resolves
    info = mlflow.models.get_model_info(f"models:/{MODEL_NAME}/2")
    assert info.signature.inputs.input_names() == ["text"]
    assert info.signature.outputs.input_names() == ["probability", "label", "known_words"]
    assert info.saved_input_example_info["type"] == "dataframe"
    assert info.flavors["python_function"]["config"]["backend"] == run.data.params["train.backend"]


def test_tracking_credentials_are_never_recorded(tracking_server, server_runs, tmp_path):
    """No secret in any param, tag, metric name or artifact of the runs, nor in the server's files, the
    project's outputs, or what the repros printed."""
    project, _, printed = server_runs
    client = MlflowClient(tracking_uri=tracking_server.url)
    runs = client.search_runs([client.get_experiment_by_name("imdb-sentiment").experiment_id])
    assert {run.data.tags["stage"] for run in runs} == {"train"} and len(runs) == 2  # (evaluate resumes train's)
    recorded = [item for run in runs for item in (*run.data.params.items(), *run.data.tags.items(), *run.data.metrics)]
    recorded += [run.info.artifact_uri for run in runs]
    files = []
    for run in runs:
        artifacts = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / run.info.run_id)))
        files += [path for path in artifacts.rglob("*") if path.is_file()]
    assert any(path.suffix == ".keras" for path in files)
    files += [path for path in tracking_server.log.parent.rglob("*") if path.is_file()]  # its store and log
    files += [path for folder in ("models", "metrics") for path in (project / folder).rglob("*") if path.is_file()]
    files += [project / "dvc.lock", project / "params.yaml"]
    for secret in [URI_USER, URI_PASSWORD, *SECRETS.values()]:
        assert [item for item in recorded if secret in str(item)] == []
        assert [path for path in files if secret.encode() in path.read_bytes()] == []
        assert [output for output in printed if secret in output] == []


def test_registered_model_serves_raw_text_over_http(tracking_server, server_runs, tmp_path):
    serving = Server(
        ["mlflow", "models", "serve", "-m", f"models:/{MODEL_NAME}@champion", "--env-manager", "local"],
        cwd=tmp_path,
        log=tmp_path / "serve.log",
        ready_path="/ping",
        MLFLOW_TRACKING_URI=tracking_server.url,
    )
    try:
        response = requests.post(
            serving.url + "/invocations",
            timeout=60,
            json={"dataframe_records": [{"text": POSITIVE}, {"text": NEGATIVE}]},
        )
    finally:
        serving.stop()
    assert response.status_code == 200, response.text
    positive, negative = response.json()["predictions"]
    assert positive["label"] == 1 and negative["label"] == 0, response.text
    assert 0.5 <= positive["probability"] <= 1 and 0 <= negative["probability"] < 0.5


def test_make_serve_serves_the_projects_registered_model_on_loopback(reproduced, tmp_path):
    """`make serve` as the README says, in a copy of the reproduced project (its own mlflow.db),
    without the environment's bin on PATH: the Makefile puts it there for MLflow's uvicorn."""
    project = tmp_path / "project"
    shutil.copytree(reproduced, project, symlinks=True)
    env = {"PATH": "/usr/bin:/bin"}
    serving = Server(
        ["make", "-s", "-f", str(helpers.ROOT / "Makefile"), "-o", "setup", "serve", f"BIN={helpers.BIN}"],
        cwd=project,
        log=tmp_path / "serve.log",
        ready_path="/ping",
        where=lambda port: [f"SERVE_PORT={port}"],
        **env,
    )
    try:
        response = requests.post(
            serving.url + "/invocations", timeout=60, json={"dataframe_records": [{"text": POSITIVE}]}
        )
    finally:
        serving.stop()
    assert response.status_code == 200, response.text
    expected = sh(["imdb-predict", POSITIVE], project).stdout
    assert round(response.json()["predictions"][0]["probability"], 6) == json.loads(expected)["probability"]


def test_ui_shows_both_runs_and_their_differences(tracking_server, server_runs, tmp_path):
    from playwright.sync_api import sync_playwright

    _, (first, second, _), _ = server_runs
    client = MlflowClient(tracking_uri=tracking_server.url)
    experiment_id = client.get_experiment_by_name("imdb-sentiment").experiment_id
    runs = {run_id: client.get_run(run_id) for run_id in (first["mlflow_run_id"], second["mlflow_run_id"])}
    names = [run.info.run_name for run in runs.values()]
    compare = (
        f"{tracking_server.url}/#/compare-runs?runs={json.dumps(list(runs))}&experiments={json.dumps([experiment_id])}"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.goto(f"{tracking_server.url}/#/experiments/{experiment_id}/runs")
            for name in names:
                page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=tmp_path / "runs.png", full_page=True)

            page.goto(compare)
            page.get_by_text("test.accuracy", exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=tmp_path / "compare.png", full_page=True)
            text = page.inner_text("body")
            units_row = page.get_by_role("rowheader", name="train.units", exact=True).locator("..").inner_text()
            accuracy_row = page.evaluate(METRIC_ROW, "test.accuracy")
        finally:
            browser.close()
    assert all(name in text for name in names)
    assert units_row.split() == ["train.units", "6", "12"]
    # The compare view rounds metrics to 3 decimals.
    assert [float(value) for value in accuracy_row] == [
        pytest.approx(report["test"]["accuracy"], abs=5e-4) for report in (first, second)
    ]
    assert (tmp_path / "compare.png").stat().st_size > 10_000


# The runs table's cells (ag-grid): [column id, row index, text]; a run's name and its metrics sit
# in separate containers (the name column is pinned), tied by the row index.
GRID_CELLS = """() => [...document.querySelectorAll('[role=gridcell]')]
  .map(cell => [cell.getAttribute('col-id'), cell.closest('[role=row]').getAttribute('row-index'),
               cell.textContent.trim()])"""


def run_row(page, run_name: str) -> dict[str, str]:
    """The runs table's row of `run_name` as {column id: text}."""
    cells = page.evaluate(GRID_CELLS)
    (index,) = {row for column, row, text in cells if column == "attributes.`Run Name`" and text.endswith(run_name)}
    return {column: text for column, row, text in cells if row == index}


def test_newcomer_reaches_the_runs_with_their_accuracy(reproduced, tmp_path):
    """`make ui`'s path: the line it prints (and the saved view it adds), then a fresh browser from
    the UI's home page. The store is a copy of the pipeline's: the stages leave the view to imdb-ui."""
    from playwright.sync_api import sync_playwright

    from imdb_rnn.cli import ui as imdb_ui
    from imdb_rnn.tracking import store as tracking

    store = tmp_path / "mlflow.db"
    shutil.copy(reproduced / "mlflow.db", store)
    uri = f"sqlite:///{store}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("imdb-sentiment")
    assert experiment.tags[tracking.KIND_TAG] == "custom_model_development"
    assert imdb_ui.VIEW_TAG not in experiment.tags
    report = json.loads((reproduced / "metrics/eval.json").read_text())
    run_name = client.get_run(report["mlflow_run_id"]).info.run_name
    expected = {
        "metrics.`val.accuracy`": report["val"]["accuracy"],
        "metrics.`test.accuracy`": report["test"]["accuracy"],
    }

    ui = Server(
        ["mlflow", "ui", "--backend-store-uri", uri],
        cwd=tmp_path,
        log=tmp_path / "ui.log",
        ready_path="/health",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )
    try:
        # What `make ui` runs before serving: the line to follow, the view added to the store.
        printed = sh(["imdb-ui", ui.url], reproduced, MLFLOW_TRACKING_URI=uri).stdout
        link = imdb_ui.ui_url(ui.url, experiment.experiment_id)
        assert printed.startswith(f"MLflow UI: {ui.url} — experiment imdb-sentiment") and link in printed.split()
        assert imdb_ui.VIEW_TAG in client.get_experiment(experiment.experiment_id).tags

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.goto(ui.url)
                # MLflow 3.17 opens every experiment on GenAI until this browser picks model training.
                page.get_by_text("Model training", exact=True).first.click()
                page.get_by_role("link", name="imdb-sentiment", exact=True).first.click()
                page.get_by_text(run_name, exact=True).first.wait_for(timeout=60_000)
                landed = page.url
                page.get_by_role("button", name="Views").first.click()
                page.get_by_text(imdb_ui.VIEW_NAME, exact=True).first.click()
                page.locator('[col-id="metrics.`test.accuracy`"][role=gridcell]').first.wait_for(timeout=60_000)
                from_home = run_row(page, run_name)
                page.screenshot(path=tmp_path / "from_home.png", full_page=True)

                fresh = browser.new_page(viewport={"width": 1600, "height": 1000})
                fresh.goto(link)
                fresh.locator('[col-id="metrics.`test.accuracy`"][role=gridcell]').first.wait_for(timeout=60_000)
                from_link = run_row(fresh, run_name)
                fresh.screenshot(path=tmp_path / "from_link.png", full_page=True)
            finally:
                browser.close()
    finally:
        ui.stop()
    assert f"/#/experiments/{experiment.experiment_id}/runs?" in landed and "workflowType=machine_learning" in landed
    for row in (from_home, from_link):
        assert {column: float(row[column]) for column in expected} == pytest.approx(expected, abs=5e-4), row


def test_closed_port_fails_fast_in_one_line_without_outputs(reproduced, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = tmp_path / "out"
    started = time.monotonic()
    result = sh(
        [
            "python",
            "-m",
            "stages.train",
            "data/padded",
            "--unlabeled",
            "data/unlabeled",
            "--model",
            str(out / "model.keras"),
            "--run-file",
            str(out / "mlflow_run.json"),
            "--metrics",
            str(out / "train.json"),
            "--history",
            str(out / "history.csv"),
        ],
        reproduced,
        check=False,
        MLFLOW_TRACKING_URI=uri,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1 and elapsed < 30, (elapsed, result.stderr)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: MLflow store ") and uri in line
    assert not out.exists() or not any(out.iterdir())

"""Bad params are refused in one line naming the key, before anything is read or written."""

from __future__ import annotations

import hashlib

import pytest
from mlflow import MlflowClient

from tests.helpers import BIN, ROOT, edit_params, sh

# --- The same refusals through the user's own commands, in a copy of a reproduced project ---

USER_FILES = ("data", "models", "metrics")


def snapshot(project) -> dict[str, object]:
    """Every file the user has in data/, models/, metrics/ with its sha256, and the MLflow runs."""
    files = {
        str(path.relative_to(project)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in USER_FILES
        for path in sorted((project / folder).rglob("*"))
        if path.is_file()
    }
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sentiment")
    runs = client.search_runs([experiment.experiment_id])
    files["mlflow runs"] = sorted(
        (run.info.run_id, run.info.status, tuple(sorted(run.data.metrics.items()))) for run in runs
    )
    return files


def make_repro(project):
    """`make repro` as the README says, with the project's Makefile and the test's environment."""
    return sh(["make", "-s", "-f", str(ROOT / "Makefile"), "-o", "setup", "repro", f"BIN={BIN}"], project, check=False)


# A bad value for the last stage, one for the first stage DVC would re-run, and a misspelt key.
REPRO_CASES = [
    ({"train": {"units": 0}}, "params.yaml: train.units: Input should be greater than 0 (got 0)"),
    (
        {"split": {"train_size": 24600}},  # + the tests' val_size 500
        "params.yaml: split: train_size + val_size = 25,100 exceeds the 25,000 training reviews",
    ),
    ({"pad": {"max_lenght": 64}}, "params.yaml: pad.max_lenght: unknown key"),
]


@pytest.mark.parametrize("edit, line", REPRO_CASES, ids=[line.split(":")[1].strip() for _, line in REPRO_CASES])
def test_bad_params_leave_the_users_work_intact_or_restorable(clone, real_archive, edit, line):
    project = clone(keep_mlflow=True)
    sh(["git", "add", "-A"], project)  # dvc.lock and the metrics and plot files, committed as docs/tracking.md says
    sh(["git", "commit", "-qm", "results"], project)
    before = snapshot(project)
    edit_params(project / "params.yaml", edit)

    # `make repro` checks params before DVC touches anything: nothing changes at all.
    result = make_repro(project)
    assert result.returncode != 0
    errors = [text for text in result.stderr.splitlines() if text.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {line}"), result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(project) == before

    # Plain `dvc repro`: the failing stage refuses in the same one line. DVC has removed that
    # stage's outputs before running it; they are in its cache (`dvc checkout`) or in git.
    result = sh(["dvc", "repro"], project, check=False, IMDB_ARCHIVE=str(real_archive))
    assert result.returncode != 0
    assert f"error: {line}" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert snapshot(project) != before  # DVC removed the failing stage's outputs
    sh(["git", "checkout", "params.yaml", "metrics"], project)
    sh(["dvc", "checkout"], project)
    assert snapshot(project) == before
    assert "up to date" in sh(["dvc", "status"], project).stdout

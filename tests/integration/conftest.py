"""Shared fixtures: the real review archive, and the project after one real `dvc repro` on it."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import ARCHIVE, find_archive
from tests.helpers import edit_params, empty_store, reproduced_project, small_archive


def pytest_collection_modifyitems(session, config, items) -> None:
    """Before any test runs: the archive, if a selected test needs it (`pytest tests/unit` does not)."""
    if not config.option.collectonly and any("full_archive" in item.fixturenames for item in items):
        config.stash[ARCHIVE] = find_archive()


@pytest.fixture(scope="session")
def full_archive(pytestconfig) -> Path:
    """The whole review archive that `find_archive` found for this session (100,000 reviews)."""
    return pytestconfig.stash[ARCHIVE] if ARCHIVE in pytestconfig.stash else find_archive()


@pytest.fixture(scope="session")
def real_archive(full_archive) -> Path:
    """Real reviews in the official layout, few enough for a test's `dvc repro` to take seconds: the
    first SMALL_PER_FOLDER of each labeled folder (TINY_PARAMS' fetch.reviews_per_folder), 4x as many
    unlabeled, their movies' urls. Tests about the whole archive (counts, dedup) use `full_archive`."""
    return small_archive(full_archive)


@pytest.fixture(scope="session")
def reproduced(full_archive) -> Path:
    """The project after one full `dvc repro` on the small archive of real reviews with TINY_PARAMS,
    shared by the whole session (and both workers): read it, or `clone` it to change anything."""
    return reproduced_project(full_archive)


@pytest.fixture()
def clone(reproduced, tmp_path):
    """clone(params=None, name="project", keep_mlflow=False) -> a copy of `reproduced` (git repo,
    DVC cache and outputs) with params edited; by default with an empty MLflow store of its own."""

    def make(params: dict | None = None, name: str = "project", keep_mlflow: bool = False) -> Path:
        dest = tmp_path / name
        shutil.copytree(reproduced, dest, symlinks=True)
        if keep_mlflow:
            own_artifacts(dest / "mlflow.db", reproduced, dest)
        else:
            shutil.rmtree(dest / "mlartifacts", ignore_errors=True)
            empty_store(dest)
        if params:
            edit_params(dest / "params.yaml", params)
        return dest

    return make


def own_artifacts(store: Path, source: Path, dest: Path) -> None:
    """A copied store's every path into `source` (the experiment's and each run's and model's artifact
    location) made the copy's: else its stages write artifacts into the shared project, where tests
    beside it read and write (a test filling a copy's mlartifacts/ filled the shared one). MLflow has
    no API that moves an experiment's artifact location, so each text column of its tables is rewritten."""
    with contextlib.closing(sqlite3.connect(store)) as db, db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for column in [
                row[1] for row in db.execute(f"PRAGMA table_info({table})") if "CHAR" in row[2] or "TEXT" in row[2]
            ]:
                db.execute(f'UPDATE {table} SET "{column}" = REPLACE("{column}", ?, ?)', (str(source), str(dest)))

"""Shared fixtures: the real review archive, and the project after one real `dvc repro` on it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from imdb_rnn.data.archive import ARCHIVE_ENV, cached_archive
from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.params import load_params
from tests.helpers import ROOT, SHARED_ARCHIVE, TINY_PARAMS, edit_params, make_project, sh


@pytest.fixture(scope="session")
def real_archive() -> Path:
    """IMDB_ARCHIVE, else the shared copy beside the project, else the official archive downloaded
    once by fetch's own code into IMDB_CACHE (default ~/.cache/imdb-rnn) and reused."""
    if os.environ.get(ARCHIVE_ENV):
        path = Path(os.environ[ARCHIVE_ENV]).resolve()
        if not path.is_file():
            pytest.fail(f"{ARCHIVE_ENV}={path}: no such file", pytrace=False)
        return path
    if SHARED_ARCHIVE.is_file():
        return SHARED_ARCHIVE
    try:
        return cached_archive(load_params(ROOT / "params.yaml").fetch)
    except PipelineError as exc:
        pytest.fail(
            f"no review archive: set {ARCHIVE_ENV} to a local copy of aclImdb_v1.tar.gz, or allow the download ({exc})",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory, real_archive) -> Path:
    """The project after one full `dvc repro` on the real reviews with TINY_PARAMS, shared by the
    whole session (about 40 s): read it, or `clone` it to change anything."""
    project = make_project(tmp_path_factory.mktemp("reproduced") / "project", TINY_PARAMS)
    sh(["dvc", "repro"], project, IMDB_ARCHIVE=str(real_archive))
    return project


@pytest.fixture()
def clone(reproduced, tmp_path):
    """clone(params=None, name="project", keep_mlflow=False) -> a copy of `reproduced` (git repo,
    DVC cache and outputs) with params edited; by default with an empty MLflow store of its own."""

    def make(params: dict | None = None, name: str = "project", keep_mlflow: bool = False) -> Path:
        dest = tmp_path / name
        shutil.copytree(reproduced, dest, symlinks=True)
        if not keep_mlflow:
            (dest / "mlflow.db").unlink(missing_ok=True)
            shutil.rmtree(dest / "mlartifacts", ignore_errors=True)
        if params:
            edit_params(dest / "params.yaml", params)
        return dest

    return make

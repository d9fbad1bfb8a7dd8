"""Shared fixtures: the real review archive, and the project after one real `dvc repro` on it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import requests

from imdb_rnn.data.archive import ARCHIVE_ENV, cache_dir, cached_archive
from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.params import load_params
from tests.helpers import (
    ROOT,
    SHARED_ARCHIVE,
    SMALL_PER_FOLDER,
    TINY_PARAMS,
    edit_params,
    make_project,
    sh,
    subset_archive,
)

ARCHIVE = pytest.StashKey[Path]()
PROBE_TIMEOUT_S = 10  # one connection attempt to fetch.url, before a download or the end of the session


def find_archive() -> Path:
    """IMDB_ARCHIVE, else the shared copy beside the project, else the official archive in IMDB_CACHE
    (default ~/.cache/imdb-rnn), downloaded there once by fetch's own code if fetch.url answers. When
    none can be had, the session ends at once, in one line: not one error per test, each retrying."""
    if os.environ.get(ARCHIVE_ENV):
        path = Path(os.environ[ARCHIVE_ENV]).resolve()
        if not path.is_file():
            pytest.exit(f"{ARCHIVE_ENV}={path}: no such file", returncode=pytest.ExitCode.USAGE_ERROR)
        return path
    if SHARED_ARCHIVE.is_file():
        return SHARED_ARCHIVE
    fetch = load_params(ROOT / "params.yaml").fetch
    cached = cache_dir() / Path(fetch.url).name
    try:
        if not cached.is_file():  # one attempt, no retries: an offline machine answers in seconds
            requests.head(fetch.url, timeout=PROBE_TIMEOUT_S, allow_redirects=True)
        return cached_archive(fetch)
    except (requests.RequestException, PipelineError) as exc:
        reason = exc if isinstance(exc, PipelineError) else f"{fetch.url}: {type(exc).__name__}"
        pytest.exit(
            f"no review archive: set {ARCHIVE_ENV} to a local copy of aclImdb_v1.tar.gz "
            f"(none at {SHARED_ARCHIVE}, none in {cache_dir()}, and no download: {reason})",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def pytest_collection_modifyitems(session, config, items) -> None:
    """Before any test runs: the archive, if a selected test needs it (`pytest tests/unit` does not)."""
    if not config.option.collectonly and any("full_archive" in item.fixturenames for item in items):
        config.stash[ARCHIVE] = find_archive()


@pytest.fixture(scope="session")
def full_archive(pytestconfig) -> Path:
    """The whole review archive that `find_archive` found for this session (100,000 reviews)."""
    return pytestconfig.stash[ARCHIVE] if ARCHIVE in pytestconfig.stash else find_archive()


@pytest.fixture(scope="session")
def real_archive(full_archive, tmp_path_factory) -> Path:
    """Real reviews in the official layout, few enough for a test's `dvc repro` to take seconds: the
    first SMALL_PER_FOLDER of each labeled folder (TINY_PARAMS' fetch.reviews_per_folder), 4x as many
    unlabeled, their movies' urls. Tests about the whole archive (counts, dedup) use `full_archive`."""
    return subset_archive(full_archive, tmp_path_factory.mktemp("archive") / "aclImdb_small.tar.gz", SMALL_PER_FOLDER)


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory, real_archive) -> Path:
    """The project after one full `dvc repro` on the small archive of real reviews with TINY_PARAMS,
    shared by the whole session: read it, or `clone` it to change anything."""
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

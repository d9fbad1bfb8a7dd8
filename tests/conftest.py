"""Before any test, in the process that runs or hands out the tests: the review archive, when a
selected test may need it. With pytest-xdist that is the controller: an exit in a worker would be an
INTERNALERROR dump, not one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from imdb_rnn.data.archive import ARCHIVE_ENV, cache_dir, cached_archive
from imdb_rnn.runtime.errors import PipelineError
from tests.helpers import DEFAULT_PARAMS, ROOT, SHARED_ARCHIVE, SHARED_ENV, XLA_CACHE_ENV

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
    fetch = DEFAULT_PARAMS.fetch
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


def pytest_configure(config) -> None:
    """Only `tests/unit` selected needs no archive; anything else is checked before a worker starts."""
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    if XLA_CACHE_ENV not in os.environ:  # the commands' XLA cache (tests.helpers.command_env), for the session
        cache = tempfile.mkdtemp(prefix="imdb-rnn-tests-xla-")
        os.environ[XLA_CACHE_ENV] = cache  # the workers inherit it
        config.add_cleanup(lambda: shutil.rmtree(cache, ignore_errors=True))
    unit, integration = ROOT / "tests" / "unit", ROOT / "tests" / "integration"
    here = config.invocation_params.dir
    selected = [(here / str(arg).split("::")[0]).resolve() for arg in config.args]
    if any(path != unit and unit not in path.parents for path in selected):
        config.stash[ARCHIVE] = find_archive()
        shared = tempfile.mkdtemp(prefix="imdb-rnn-tests-shared-")
        os.environ[SHARED_ENV] = shared  # tests.helpers.built_once: one folder for the workers
        config.add_cleanup(lambda: shutil.rmtree(shared, ignore_errors=True))
        if any(path == integration or path in integration.parents for path in selected):
            prebuild(config, config.stash[ARCHIVE], Path(shared))


def prebuild(config, archive: Path, shared: Path) -> None:
    """The integration tests' shared project (tests.helpers.reproduced_project, a minute of CPU) built
    in the background from the start, while the unit tests run first (pytest_collection_modifyitems):
    else the first integration tests wait for it, a core idle. A test asking for it waits on its lock;
    if this build fails, that test builds it again and says why."""
    build = "import sys, pathlib, tests.helpers as h; h.reproduced_project(pathlib.Path(sys.argv[1]))"
    with (shared / "prebuild.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", build, str(archive)], cwd=ROOT, stdout=log, stderr=log, start_new_session=True
        )

    def stop() -> None:  # at the session's end, if still running (a session of a few tests)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    config.add_cleanup(stop)


def pytest_collection_modifyitems(items) -> None:
    """The unit tests first (the prebuild runs meanwhile), then the integration modules marked slow,
    then the others: the long ones start early and the short ones fill the end, on both workers
    (`make test` keeps this order: --no-loadscope-reorder)."""
    items.sort(key=lambda item: ("/integration/" in item.nodeid, item.get_closest_marker("slow") is None))


@pytest.fixture(autouse=True)
def unset_mlflow_tracking_uri():
    """Code under test points MLflow at a store in-process (tracking.use_experiment calls
    mlflow.set_tracking_uri), and that outlives the test, overriding a later test's MLFLOW_TRACKING_URI:
    unset after each test."""
    yield
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)

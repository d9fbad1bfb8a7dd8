"""A first hour with no wait for nothing: with no archive to be had (no IMDB_ARCHIVE, no shared copy,
an empty cache, fetch.url unreachable), the whole suite ends at once, in one line naming IMDB_ARCHIVE;
the fast tier runs all the same."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from imdb_rnn.data.archive import ARCHIVE_ENV, CACHE_ENV
from tests.helpers import BIN, ROOT, edit_params, free_port, sh

STOP_WITHIN_S = 30


def offline_copy(tmp_path: Path) -> Path:
    """The suite as a new user has it, but in a folder with no ../shared beside it, and a fetch.url
    where nothing listens."""
    copy = tmp_path / "checkout" / "project"
    copy.mkdir(parents=True)
    for name in ("tests", "stages", "pyproject.toml", "params.yaml", "dvc.yaml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    edit_params(copy / "params.yaml", {"fetch": {"url": f"http://127.0.0.1:{free_port()}/aclImdb_v1.tar.gz"}})
    return copy


def test_without_any_archive_the_suite_ends_at_once_in_one_line_naming_imdb_archive(tmp_path):
    copy = offline_copy(tmp_path)
    (tmp_path / "cache").mkdir()
    env = {ARCHIVE_ENV: "", CACHE_ENV: str(tmp_path / "cache")}
    start = time.monotonic()
    result = sh([str(BIN / "python"), "-m", "pytest", "-p", "no:cacheprovider"], copy, check=False, **env)
    elapsed = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode == 4, output[-3000:]  # pytest's usage error: nothing ran
    lines = [line for line in output.splitlines() if ARCHIVE_ENV in line]
    assert len(lines) == 1, output[-3000:]
    assert f"no review archive: set {ARCHIVE_ENV} to a local copy of aclImdb_v1.tar.gz" in lines[0]
    assert "ConnectionError" in lines[0] and " passed" not in output and " error" not in output
    assert elapsed < STOP_WITHIN_S, f"{elapsed:.1f} s"

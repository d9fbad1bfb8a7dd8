"""imdb-promote: a damaged store is one line (the registry's rules: tests/integration/test_promotion.py)."""

from __future__ import annotations

import sys

import mlflow
import pytest

from imdb_rnn.cli import promote
from imdb_rnn.runtime.errors import PipelineError
from tests.helpers import default_params_file


def imdb_promote(monkeypatch, version: str) -> None:
    monkeypatch.setattr(sys, "argv", ["imdb-promote", version])
    promote.main()


@pytest.fixture()
def project(tmp_path, monkeypatch):
    default_params_file(tmp_path)
    monkeypatch.chdir(tmp_path)
    # main sets MLflow's tracking URI for the process: put it back afterwards
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", None)
    return tmp_path


def test_a_damaged_store_is_one_line(project, monkeypatch):
    """A 76-line SQLAlchemy traceback before (train said one line of the same store)."""
    (project / "mlflow.db").write_bytes(b"not a database " * 100)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    with pytest.raises(PipelineError) as refused:
        imdb_promote(monkeypatch, "1")
    assert str(refused.value) == (
        f"MLflow store sqlite:///{project / 'mlflow.db'} is not reachable: "
        "DatabaseError: (sqlite3.DatabaseError) file is not a database"
    )

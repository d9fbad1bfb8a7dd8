"""benchmarks/search_*.sh: a search prints what it chooses on, validation accuracy, and never test.
Each candidate's `dvc exp run` is a no-op here; the metrics files are the ones it would leave."""

from __future__ import annotations

import json

import pytest

from tests.helpers import ROOT, command_env, sh

FIGURES = {"val": {"accuracy": 0.8765}, "test": {"accuracy": 0.1234}, "test_short": {"accuracy": 0.2345}}


@pytest.mark.parametrize("script", ["search_best.sh", "search_semi.sh"])
def test_a_search_prints_validation_accuracy_only(tmp_path, script):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "dvc").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "dvc").chmod(0o755)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "eval.json").write_text(json.dumps(FIGURES))
    (tmp_path / "metrics" / "train.json").write_text(json.dumps({"epochs": 3, "kept_epoch": 2, "seconds": 120.0}))
    path = f"{tmp_path / 'bin'}:{command_env()['PATH']}"  # dvc: the stub
    header, *rows = sh(["bash", str(ROOT / "benchmarks" / script)], tmp_path, PATH=path).stdout.splitlines()
    assert "val_accuracy" in header.split("\t") and "test" not in header
    assert rows and all(row.split("\t")[1] == "0.8765" for row in rows)
    assert not any(str(FIGURES[split]["accuracy"]) in row for row in rows for split in ("test", "test_short"))

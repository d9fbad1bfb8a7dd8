"""imdb_rnn.tracking.store.read_run_reference: the run file train writes and evaluate reads, checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.tracking.store import read_run_reference

BAD_RUN_FILES = [
    ('{"run_id": 5}', "run_id: Input should be a valid string (got 5)"),
    ("[]", "(top level): Input should be an object (got [])"),
    ('{"run_id": "../other"}', "run_id: String should match pattern"),
    ("[" * 50_000, "(top level): Invalid JSON: recursion limit exceeded"),
]


@pytest.mark.parametrize("text, message", BAD_RUN_FILES, ids=["number", "list", "path", "nested"])
def test_a_bad_run_file_is_one_line_naming_the_key(tmp_path, text, message):
    """`{"run_id": 5}` or `[]` in models/mlflow_run.json gave a TypeError traceback in evaluate (issue 30)."""
    path = tmp_path / "mlflow_run.json"
    path.write_text('{"run_id": "0123abcd", "experiment_id": "1"}')
    assert read_run_reference(path) == "0123abcd"
    path.write_text(text)
    with pytest.raises(PipelineError) as refused:
        read_run_reference(path)
    assert str(refused.value).startswith(f"{path}: {message}") and len(str(refused.value)) < 400


def test_an_endless_run_file_is_refused_past_its_size():
    """`--run-file /dev/zero` was read until the kernel killed evaluate at 22 GB (issue 30)."""
    with pytest.raises(PipelineError) as refused:
        read_run_reference(Path("/dev/zero"))
    assert str(refused.value) == "/dev/zero: larger than 64 KiB: not a run file"

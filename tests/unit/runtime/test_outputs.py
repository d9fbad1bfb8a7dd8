"""imdb_rnn.runtime.outputs: outputs written whole or not at all, and a folder that cannot be
written (read-only, a full disk) named in one line, on real file systems (a bind mount, a tmpfs)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.outputs import staged_outputs, write_text_atomic
from stages.pad import pad
from tests.helpers import DEFAULT_PARAMS, command_env, default_params_file, full_disk, read_only, sh


def contents(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.name != ".filler"}


def test_a_read_only_folder_is_one_line_naming_it_and_keeps_its_files(tmp_path):
    out = tmp_path / "metrics"
    out.mkdir()
    (out / "eval.json").write_text("old")
    with read_only(out):
        with pytest.raises(PipelineError) as refused:
            write_text_atomic(out / "eval.json", "new")
        assert str(refused.value) == f"{out}: cannot write: Read-only file system"
        with pytest.raises(PipelineError) as refused, staged_outputs(out / "eval.json", out / "roc.csv"):
            pass
        assert str(refused.value) == f"{out}: cannot write: Read-only file system"
        assert contents(out) == {"eval.json": b"old"}


def test_a_full_disk_is_one_line_naming_the_output_and_keeps_the_old_ones(tmp_path):
    out = tmp_path / "padded"
    out.mkdir()
    (out / "train.npz").write_bytes(b"old")
    with full_disk(out):
        with pytest.raises(PipelineError) as refused:
            write_text_atomic(out / "train.npz", "x" * 100_000)
        assert str(refused.value) == f"{out / 'train.npz'}: cannot write: No space left on device (disk full)"
        outputs = staged_outputs(out / "train.npz", out / "vocab.json")
        with pytest.raises(PipelineError) as refused, outputs as (train, _), train.open("wb") as stream:
            np.savez(stream, x=np.zeros(100_000))
        assert str(refused.value) == f"{out / 'train.npz'}: cannot write: No space left on device (disk full)"
        assert contents(out) == {"train.npz": b"old"}  # no temp file or folder left either


def test_an_error_that_is_not_about_the_outputs_is_left_alone(tmp_path):
    with pytest.raises(FileNotFoundError), staged_outputs(tmp_path / "out" / "a.json"):
        (tmp_path / "missing.txt").read_text()


@pytest.fixture()
def split_dir(tmp_path):
    """A tiny data/split: each split a few reviews of each class."""
    folder = tmp_path / "split"
    folder.mkdir()
    for name in ("train", "val", "test"):
        frame = pd.DataFrame({"text": ["A great film. Loved it.", "Awful. Boring."] * 20, "label": [1, 0] * 20})
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_the_pad_stage_on_an_unwritable_folder_fails_in_one_line_and_keeps_its_outputs(tmp_path, split_dir, fault):
    """pad on a full data/padded gave three chained Errno 28 tracebacks, and replaced its files one by
    one (a full disk halfway left new and old ones together)."""
    out = tmp_path / "padded"
    pad(DEFAULT_PARAMS.pad, split_dir, out)  # what an earlier run left (in-process: the second run is the test)
    before = contents(out)
    assert sorted(before) == ["test.npz", "test_short.npz", "train.npz", "val.npz", "vocab.json"]
    with (read_only if fault == "read-only" else full_disk)(out):
        command = [sys.executable, "-m", "stages.pad", str(split_dir), str(out)]
        result = sh(command, default_params_file(tmp_path).parent, check=False)
        assert result.returncode == 1, result.stderr
        expected = (
            f"{out}: cannot write: Read-only file system"
            if fault == "read-only"
            else f"{out / 'train.npz'}: cannot write: No space left on device (disk full)"
        )
        assert result.stderr == f"error: {expected}\n"
        assert contents(out) == before


def test_what_a_killed_writer_left_is_removed_by_the_next_writer_there(tmp_path):
    """SIGKILL (the out-of-memory killer) unwinds nothing: the staged folder and the temp file stay,
    until the next stage writes in that folder. A live process's temp files are left alone."""
    killed = (
        "import os, signal, sys\n"
        "from imdb_rnn.runtime.outputs import atomic_path, staged_outputs\n"
        "with staged_outputs('metrics/eval.json'), atomic_path('raw/reviews.parquet') as tmp:\n"
        "    tmp.write_bytes(b'half a parquet file')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", killed], cwd=tmp_path, env=command_env(), capture_output=True)
    assert result.returncode == -9, result.stderr
    assert [len(os.listdir(tmp_path / folder)) for folder in ("metrics", "raw")] == [1, 1]  # left behind
    alive = tmp_path / "raw" / f".staged-{os.getpid()}-abc"
    alive.mkdir()
    with staged_outputs(tmp_path / "metrics/eval.json") as (staged,):
        staged.write_text("{}")
    write_text_atomic(tmp_path / "raw/reviews.parquet", "whole")
    assert sorted(os.listdir(tmp_path / "metrics")) == ["eval.json"]
    assert sorted(os.listdir(tmp_path / "raw")) == [alive.name, "reviews.parquet"]

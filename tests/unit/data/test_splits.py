"""imdb_rnn.data.splits: a damaged padded split, read by a stage run directly, fails in one line."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from imdb_rnn.data.splits import load_padded
from imdb_rnn.runtime.errors import PipelineError
from tests.helpers import default_params_file, sh


def padded_bytes(rows: int = 200) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.ones((rows, 64), "int32"), y=np.zeros(rows, "int32"))
    return buffer.getvalue()


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999], ids=["half", "most", "all-but-the-end"])
def test_a_cut_short_padded_split_is_one_line_naming_the_file(tmp_path, keep):
    data = padded_bytes()
    path = tmp_path / "train.npz"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(PipelineError) as refused:
        load_padded(path)
    assert str(refused.value).startswith(f"{path}: not a padded split: ") and "\n" not in str(refused.value)


def test_a_padded_split_of_the_wrong_shape_is_refused(tmp_path):
    path = tmp_path / "val.npz"
    np.savez(path, x=np.ones(10, "float32"), y=np.zeros(10, "int32"))
    with pytest.raises(PipelineError, match="expected integer token ids"):
        load_padded(path)


def test_the_train_stage_run_directly_on_a_cut_short_split_fails_in_one_line(tmp_path):
    """A 29-line zipfile.BadZipFile traceback before: `dvc repro` restores the file first, but a
    stage's own command is documented and must fail in one line too."""
    padded = tmp_path / "padded"
    padded.mkdir()
    data = padded_bytes()
    (padded / "train.npz").write_bytes(data[: len(data) // 2])
    result = sh(
        [sys.executable, "-m", "stages.train", str(padded), "--unlabeled", str(tmp_path / "unlabeled")]
        + [f"--{name}={tmp_path / name}" for name in ("model", "run-file", "metrics", "history")],
        default_params_file(tmp_path / "project").parent,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == f"error: {padded / 'train.npz'}: not a padded split: File is not a zip file\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["padded", "project"]  # nothing written


def test_the_train_stage_refuses_data_padded_with_other_pad_params(tmp_path):
    """It trained on them, exit 0 (issue 30): train is given the pad params and checks vocab.json."""
    from imdb_rnn.data.text import Vocabulary

    padded = tmp_path / "padded"
    padded.mkdir()
    for name in ("train", "val"):
        (padded / f"{name}.npz").write_bytes(padded_bytes())
    Vocabulary(["", "[UNK]", "good"], 64, "post", "pre", 1, 150_000).save(padded / "vocab.json")
    result = sh(
        [sys.executable, "-m", "stages.train", str(padded), "--unlabeled", str(tmp_path / "unlabeled")]
        + [f"--{name}={tmp_path / name}" for name in ("model", "run-file", "metrics", "history")],
        default_params_file(tmp_path / "project").parent,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {padded / 'vocab.json'}: the padded data was made with pad.max_features 150000 (params.yaml: "
        "10000), pad.max_len 64 (params.yaml: 500), pad.padding post (params.yaml: pre): "
        "rebuild it with `dvc repro pad`\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["padded", "project"]  # nothing written

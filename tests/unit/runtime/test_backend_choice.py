"""errors.choose_backend: every entry point runs Keras on the project's backend, whatever
KERAS_BACKEND the shell has (train, evaluate, pad, predict, the served model)."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from imdb_rnn.runtime.errors import PipelineError, choose_backend
from tests.helpers import default_params_file, sh


def test_a_process_already_running_keras_on_another_backend_is_refused_only_where_it_matters():
    import keras

    loaded = keras.backend.backend()
    other = "tensorflow" if loaded != "tensorflow" else "jax"
    with pytest.raises(PipelineError, match=f"train.backend: '{other}', but Keras was already loaded with '{loaded}'"):
        choose_backend(other, "train.backend")
    choose_backend(other, "backend", strict=False)  # a .keras file predicts on any backend: kept


@pytest.mark.parametrize("shell", ["torch", "no-such-backend"])
def test_the_pad_stage_ignores_keras_backend_in_the_shell(tmp_path, shell):
    """`KERAS_BACKEND=torch` (not installed) made pad fail with a 35-line `No module named 'torch'`."""
    split = tmp_path / "split"
    split.mkdir()
    for name in ("train", "val", "test"):
        frame = pd.DataFrame({"text": ["A great film.", "Awful, boring."] * 4, "label": [1, 0] * 4})
        frame.to_parquet(split / f"{name}.parquet", index=False)
    pad = [sys.executable, "-m", "stages.pad", str(split), str(tmp_path / "padded")]
    result = sh(pad, default_params_file(tmp_path).parent, KERAS_BACKEND=shell)
    assert result.stderr == ""
    assert sorted(path.name for path in (tmp_path / "padded").iterdir())[-1] == "vocab.json"

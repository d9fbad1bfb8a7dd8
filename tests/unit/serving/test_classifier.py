"""imdb_rnn.serving.classifier: loading the model."""

from __future__ import annotations

import pytest

from imdb_rnn.models.rnn import build_model
from imdb_rnn.runtime.errors import PipelineError
from tests.helpers import DEFAULT_PARAMS


def test_a_damaged_model_file_is_called_damaged_not_missing(tmp_path):
    from imdb_rnn.serving.classifier import load_keras_model

    params = DEFAULT_PARAMS.train.model_copy(update={"units": 2, "embedding_dim": 2})
    good = tmp_path / "model.keras"
    build_model(params, 10, 4).save(good)
    truncated, garbage = tmp_path / "truncated.keras", tmp_path / "garbage.keras"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage.write_text("not a model")
    for path in (truncated, garbage):
        with pytest.raises(PipelineError, match=rf"^{path}: cannot load the model: not a Keras model file"):
            load_keras_model(path)
    with pytest.raises(PipelineError, match=rf"^{tmp_path / 'none.keras'}: cannot load the model: not found$"):
        load_keras_model(tmp_path / "none.keras")
    assert load_keras_model(good).count_params() == build_model(params, 10, 4).count_params()

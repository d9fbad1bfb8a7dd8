"""imdb_rnn.models.inference: loading a model, and predicting in length buckets."""

from __future__ import annotations

import numpy as np
import pytest

from imdb_rnn.models import inference
from imdb_rnn.models.rnn import build_model
from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.params import load_params
from tests.helpers import ROOT
from tests.unit.data.test_batches import padded_reviews

DEFAULT_TRAIN = load_params(ROOT / "params.yaml").train


def test_a_damaged_model_file_is_called_damaged_not_missing(tmp_path):
    params = DEFAULT_TRAIN.model_copy(update={"units": 2, "embedding_dim": 2})
    good = tmp_path / "model.keras"
    build_model(params, 10, 4).save(good)
    truncated, garbage = tmp_path / "truncated.keras", tmp_path / "garbage.keras"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage.write_text("not a model")
    for path in (truncated, garbage):
        with pytest.raises(PipelineError, match=rf"^{path}: cannot load the model: not a Keras model file"):
            inference.load_keras_model(path)
    with pytest.raises(PipelineError, match=rf"^{tmp_path / 'none.keras'}: cannot load the model: not found$"):
        inference.load_keras_model(tmp_path / "none.keras")
    assert inference.load_keras_model(good).count_params() == build_model(params, 10, 4).count_params()


@pytest.mark.parametrize("padding", ["post", "pre"])
def test_bucketed_prediction_equals_the_full_length_one_for_the_same_weights(padding):
    params = DEFAULT_TRAIN.model_copy(
        update={
            "cell": "gru",
            "mask_padding": True,
            "pooling": "mean",
            "bidirectional": True,
            "units": 4,
            "embedding_dim": 3,
        }
    )
    model = build_model(params, vocabulary_size=20, max_len=None)
    x = padded_reviews([3, 40, 7, 64, 12, 1, 33, 50, 5, 64], max_len=64, padding=padding)
    full = np.asarray(model.predict(x, verbose=0)).ravel()
    assert inference.reads_any_length(model)
    np.testing.assert_allclose(inference.predict(model, x, padding, batch_size=3), full, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("max_len", [None, 8], ids=["any-length", "fixed-length"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_a_review_of_nothing_but_padding_gets_a_probability(pooling, max_len):
    """A review with no term the tokenizer keeps ("<br />") is all padding; a masked model would
    average over no step (NaN). It is answered as one unknown word, whether or not the model was
    built for bucketed batches (train.buckets 0, or a distributed run, builds it for max_len)."""
    params = DEFAULT_TRAIN.model_copy(
        update={"cell": "gru", "mask_padding": True, "pooling": pooling, "units": 4, "embedding_dim": 3}
    )
    model = build_model(params, vocabulary_size=20, max_len=max_len)
    x = np.array([[0] * 8, [3, 4, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]], dtype="int32")
    probability = inference.predict(model, x, "post", batch_size=4)
    assert np.isfinite(probability).all()
    assert probability[0] == pytest.approx(probability[2], abs=1e-6)  # as if it read one unknown word

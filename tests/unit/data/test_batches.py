"""imdb_rnn.data.batches: length buckets, and the padding they leave out."""

from __future__ import annotations

import numpy as np
import pytest

from imdb_rnn.models.rnn import build_model
from tests.helpers import DEFAULT_PARAMS

DEFAULT_TRAIN = DEFAULT_PARAMS.train

# --- bucketed batches (imdb_rnn.data.batches) ---


def padded_reviews(lengths: list[int], max_len: int, padding: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.zeros((len(lengths), max_len), dtype="int32")
    for row, length in enumerate(lengths):
        ids = rng.integers(1, 20, size=length)
        if padding == "post":
            x[row, :length] = ids
        else:
            x[row, max_len - length :] = ids
    return x


@pytest.mark.parametrize("padding", ["post", "pre"])
def test_bucketed_prediction_equals_the_full_length_one_for_the_same_weights(padding):
    from imdb_rnn.data import batches

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
    assert batches.reads_any_length(model)
    np.testing.assert_allclose(batches.predict(model, x, padding, batch_size=3), full, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("max_len", [None, 8], ids=["any-length", "fixed-length"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_a_review_of_nothing_but_padding_gets_a_probability(pooling, max_len):
    """A review with no term the tokenizer keeps ("<br />") is all padding; a masked model would
    average over no step (NaN). It is answered as one unknown word, whether or not the model was
    built for bucketed batches (train.buckets 0, or a distributed run, builds it for max_len)."""
    from imdb_rnn.data import batches

    params = DEFAULT_TRAIN.model_copy(
        update={"cell": "gru", "mask_padding": True, "pooling": pooling, "units": 4, "embedding_dim": 3}
    )
    model = build_model(params, vocabulary_size=20, max_len=max_len)
    x = np.array([[0] * 8, [3, 4, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]], dtype="int32")
    probability = batches.predict(model, x, "post", batch_size=4)
    assert np.isfinite(probability).all()
    assert probability[0] == pytest.approx(probability[2], abs=1e-6)  # as if it read one unknown word


def test_buckets_cover_every_review_once_within_max_len_and_repeat_with_the_seed():
    from imdb_rnn.data import batches

    lengths = [3, 40, 7, 64, 12, 1, 33, 50, 5, 64, 20, 9, 18]
    x = padded_reviews(lengths, max_len=64, padding="post")
    y = np.arange(len(x)) % 2
    bounds = batches.bucket_lengths(batches.review_lengths(x), 64)
    assert len(bounds) <= batches.BUCKETS + 1 and bounds.max() == 64 and (np.diff(bounds) > 0).all()
    first = batches.training_batches(x, y, batch_size=4, padding="post", seed=7, shuffle=True)
    second = batches.training_batches(x, y, batch_size=4, padding="post", seed=7, shuffle=True)
    seen = []
    for index in range(len(first)):
        cut, _labels = first[index]
        again, _ = second[index]
        np.testing.assert_array_equal(cut, again)  # bit-identical across runs
        assert cut.shape[1] <= 64 and (batches.review_lengths(cut) <= cut.shape[1]).all()
        assert batches.review_lengths(cut).tolist() == [lengths[i] for i in first.batches[index][0]]  # nothing cut off
        seen += first.batches[index][0].tolist()
    assert sorted(seen) == list(range(len(x)))
    order = [rows.tolist() for rows, _ in first.batches]
    first.on_epoch_end()
    assert [rows.tolist() for rows, _ in first.batches] != order  # a new order each epoch
    assert sum(len(batch[0]) < 4 for batch in first.batches) <= 1  # only one short batch: few shapes to compile

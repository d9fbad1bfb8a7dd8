"""imdb_rnn.data.batches: length buckets, and the padding they leave out."""

from __future__ import annotations

import numpy as np


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

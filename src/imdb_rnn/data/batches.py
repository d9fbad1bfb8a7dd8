"""Batches of reviews of similar length, each cut to the longest review it holds (rounded up to one
of a few bucket lengths): for a model that masks padding this changes no result, only the time spent
on padding. Used to train (shuffled, seeded), and by imdb_rnn.models.inference to predict (in order)."""

from __future__ import annotations

import numpy as np

BUCKETS = 6  # bucket lengths (train.buckets): JAX compiles a step per batch shape, so a handful, not hundreds
ROUND_TO = 16


def review_lengths(x: np.ndarray) -> np.ndarray:
    """Terms in each padded review (0 is padding only; unknown words are 1)."""
    return np.count_nonzero(x, axis=1)


def bucket_lengths(lengths: np.ndarray, max_len: int, buckets: int = BUCKETS) -> np.ndarray:
    """Lengths at evenly spaced quantiles of `lengths`, rounded up to ROUND_TO and never above max_len."""
    quantiles = np.quantile(lengths, np.linspace(0, 1, buckets + 1)[1:]) if len(lengths) else np.array([max_len])
    rounded = np.minimum(-(-np.maximum(quantiles, 1) // ROUND_TO) * ROUND_TO, max_len).astype(int)
    return np.unique(np.append(rounded, max_len))


def plan(
    x: np.ndarray, batch_size: int, rng: np.random.Generator | None = None, bounds: np.ndarray | None = None
) -> list[tuple[np.ndarray, int]]:
    """(row indices, length) of each batch: rows grouped by bucket, in random order within a bucket
    and random batch order if `rng`, else in order; only the last batch of the walk can be short."""
    bounds = bucket_lengths(review_lengths(x), x.shape[1]) if bounds is None else bounds
    bucket = np.searchsorted(bounds, review_lengths(x))
    order = rng.permutation(len(x)) if rng is not None else np.arange(len(x))
    order = order[np.argsort(bucket[order], kind="stable")]
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return [(rows, int(bounds[bucket[rows].max()])) for rows in batches]


def cut(x: np.ndarray, length: int, padding: str) -> np.ndarray:
    """The `length` columns that hold the reviews: the first ones if padded at the end, else the last."""
    return x[:, :length] if padding == "post" else x[:, x.shape[1] - length :]


def training_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    padding: str,
    seed: int,
    shuffle: bool,
    buckets: int = BUCKETS,
    weights: np.ndarray | None = None,
):
    """A keras.utils.PyDataset of bucketed batches (with their sample `weights`, if any); with
    `shuffle`, a new seeded order every epoch (epoch e uses seed + e), so two runs see the same batches."""
    import keras

    bounds = bucket_lengths(review_lengths(x), x.shape[1], buckets)

    class BucketedBatches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = -1
            self.on_epoch_end()

        def __len__(self) -> int:
            return len(self.batches)

        def __getitem__(self, index: int):
            rows, length = self.batches[index]
            batch = (cut(x[rows], length, padding), y[rows])
            return batch if weights is None else (*batch, weights[rows])

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.batches = plan(x, batch_size, np.random.default_rng([seed, self.epoch]) if shuffle else None, bounds)

    return BucketedBatches()

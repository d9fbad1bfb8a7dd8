"""Batches of reviews of similar length, each cut to the longest review it holds (rounded up to one
of a few bucket lengths): for a model that masks padding this changes no result, only the time spent
on padding. Used to train (shuffled, seeded), to evaluate and to predict (in order)."""

from __future__ import annotations

import numpy as np

from imdb_rnn.data.text import OOV_ID
from imdb_rnn.runtime.errors import PipelineError

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


def masks_padding(model) -> bool:
    """Its first embedding masks padding (a functional model's layers[0] is its input layer)."""
    first = next((layer for layer in model.layers if hasattr(layer, "mask_zero")), None)
    return bool(getattr(first, "mask_zero", False))


def reads_any_length(model) -> bool:
    """A model that masks padding and was built for reviews of any length (as train builds it then)."""
    return masks_padding(model) and model.input_shape[1] is None


def vocabulary_size(model) -> int | None:
    """The ids the model reads (its embedding's input_dim: ids 0 to N-1), None if it has no embedding."""
    return getattr(model.layers[0], "input_dim", None) if model.layers else None


def check_token_ids(model, x: np.ndarray, source: str) -> None:
    """Token ids the model cannot read are refused in one line naming where they came from: Keras'
    embedding on JAX reads an id past its table as NaN, silently (predict printed "probability": NaN)."""
    size = vocabulary_size(model)
    if size is None or x.size == 0:
        return
    low, high = int(x.min()), int(x.max())
    if low < 0 or high >= size:
        raise PipelineError(
            f"{source}: token ids from {low:,} to {high:,}, but the model reads ids 0 to {size - 1:,} only "
            "(its vocabulary): the data and the model are not from the same pipeline run"
        )


def predict(model, x: np.ndarray, padding: str, batch_size: int, source: str = "input") -> np.ndarray:
    """model.predict, in length buckets if the model masks padding (the same result, less padding
    read), as float64 probabilities in the rows' order. Ids outside the model's vocabulary are
    refused (check_token_ids), naming `source`."""
    check_token_ids(model, x, source)
    if masks_padding(model):  # an all-padding review is all masked: the mean over no step is 0/0
        empty = review_lengths(x) == 0
        if empty.any():  # read it as one unknown word
            x = x.copy()
            x[empty, 0 if padding == "post" else -1] = OOV_ID
    if not reads_any_length(model) or len(x) == 0:
        return np.asarray(model.predict(x, batch_size=batch_size, verbose=0)).ravel().astype("float64")
    probability = np.empty(len(x), dtype="float64")
    for rows, length in plan(x, batch_size):
        probability[rows] = np.asarray(model.predict_on_batch(cut(x[rows], length, padding))).ravel()
    return probability


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
            self.epoch = 0
            self._plan()

        def _plan(self) -> None:
            rng = np.random.default_rng([seed, self.epoch]) if shuffle else None
            self.batches = plan(x, batch_size, rng, bounds)

        def __len__(self) -> int:
            return len(self.batches)

        def __getitem__(self, index: int):
            rows, length = self.batches[index]
            if weights is None:
                return cut(x[rows], length, padding), y[rows]
            return cut(x[rows], length, padding), y[rows], weights[rows]

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self._plan()

    return BucketedBatches()

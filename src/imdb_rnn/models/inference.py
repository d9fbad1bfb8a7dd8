"""A trained model applied to padded reviews, for evaluate and the served classifier: loaded for
prediction, and predicting in length buckets (imdb_rnn.data.batches) when it masks padding."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from imdb_rnn.data import batches
from imdb_rnn.data.text import OOV_ID
from imdb_rnn.models.pooling import masked_max_pooling_class
from imdb_rnn.runtime import keras_patches
from imdb_rnn.runtime.errors import PipelineError


def load_keras_model(path: Path | str):
    """The trained Keras model, in safe mode (a model file may not run its author's code), without its
    optimizer, without drawing initial weights the file's replace (keras_patches.weights_start_at_zero)."""
    import keras

    # Keras says "File not found" of any file it cannot open as a zip: say what is wrong.
    if not Path(path).is_file():
        raise PipelineError(f"{path}: cannot load the model: not found")
    if not zipfile.is_zipfile(path):
        raise PipelineError(f"{path}: cannot load the model: not a Keras model file (damaged, or not a .keras zip)")
    masked_max_pooling_class()  # registered: the one layer of the project's own a model can hold
    try:
        with keras_patches.weights_start_at_zero():
            return keras.saving.load_model(path, safe_mode=True, compile=False)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # a damaged archive's members
        raise PipelineError(f"{path}: cannot load the model: {exc}") from None


def masks_padding(model) -> bool:
    """Its first embedding masks padding (a functional model's layers[0] is its input layer)."""
    return bool(next((layer.mask_zero for layer in model.layers if hasattr(layer, "mask_zero")), False))


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
    """model.predict as float64 probabilities, in length buckets if the model masks padding (the same
    result, less padding read); ids outside its vocabulary refused (check_token_ids), naming `source`."""
    check_token_ids(model, x, source)
    if masks_padding(model):  # an all-padding review is all masked: the mean over no step is 0/0
        empty = batches.review_lengths(x) == 0
        if empty.any():  # read it as one unknown word
            x = x.copy()
            x[empty, 0 if padding == "post" else -1] = OOV_ID
    if not reads_any_length(model) or len(x) == 0:
        return np.asarray(model.predict(x, batch_size=batch_size, verbose=0)).ravel().astype("float64")
    probability = np.empty(len(x), dtype="float64")
    for rows, length in batches.plan(x, batch_size):
        probability[rows] = np.asarray(model.predict_on_batch(batches.cut(x[rows], length, padding))).ravel()
    return probability

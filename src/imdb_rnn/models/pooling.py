"""Max pooling over a review's words only. Keras' GlobalMaxPooling1D ignores the mask: the zeros a masked
recurrent layer outputs at padding steps count, and a score depends on its batch's padding."""

from __future__ import annotations

import functools


@functools.cache
def masked_max_pooling_class():
    """The layer class, made on first use: importing Keras fixes its backend, which a stage chooses
    first. Registered, so a saved model loads in safe mode wherever this module is imported."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="imdb_rnn")
    class MaskedGlobalMaxPooling1D(keras.layers.GlobalMaxPooling1D):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            if mask is None:
                return super().call(inputs)
            kept = ops.expand_dims(ops.cast(mask, "bool"), axis=-1)
            pooled = ops.max(ops.where(kept, inputs, float("-inf")), axis=1)
            return ops.where(ops.any(kept, axis=1), pooled, ops.zeros_like(pooled))  # all padding: 0, not -inf

        def compute_mask(self, inputs, mask=None):
            return None  # one vector per review: no steps left to mask

    return MaskedGlobalMaxPooling1D

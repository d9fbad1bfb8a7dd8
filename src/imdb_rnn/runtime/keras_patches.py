"""Every use of Keras' private code, in one module: each is here because no public API does it, was
written for Keras WRITTEN_FOR, and has a test (tests/unit/runtime/test_keras_patches.py) that fails,
naming the patch to re-check, when Keras changes. Keras is imported inside each function: importing
it fixes the backend, which the caller chooses first."""

from __future__ import annotations

WRITTEN_FOR = "3.15.1"  # the Keras version each patch below was written for and checked against


def tensorflow_only_if_loaded() -> None:
    """Keras imports TensorFlow, on JAX too, to seed it and to ask whether each value it saves is one
    of TensorFlow's types (seconds of every training's start, and its C++ start-up lines): unless
    TensorFlow is already loaded, nothing is, so Keras is told it is not there."""
    import sys

    from keras.src.utils import module_utils

    if "tensorflow" not in sys.modules:
        module_utils.tensorflow._available = False


def build_training_state(model, sample_batch) -> None:
    """Create the model's training state (optimizer, metrics) now, from a sample batch, and stop fit()
    building it again: Keras would build it in fit() by reducing a whole distributed (x, y) batch in
    one call, which MultiWorkerMirroredStrategy refuses ("Attempt to convert a value (PerReplica...");
    it only needs the shapes, which the sample gives. Call it in the strategy's scope."""
    model._symbolic_build(data_batch=sample_batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def average_scalar_logs_over_workers() -> None:
    """Keras averages each step's logs (loss, accuracy: one scalar per replica) over multi-worker
    TensorFlow workers with reduce(MEAN, axis=0), which fails on a scalar ("Invalid reduction
    dimension 0 for input with 0 dimensions"); averaging the replicas' values (axis=None) is what it
    means. The other reductions stay Keras' own."""
    import keras
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    original = getattr(trainer.reduce_per_replica, "keras_original", trainer.reduce_per_replica)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return keras.tree.map_structure(
                lambda v: (
                    strategy.reduce("MEAN", v, axis=None) if isinstance(v, tf.distribute.DistributedValues) else v
                ),
                values,
            )
        return original(values, strategy, reduction)

    reduce_per_replica.keras_original = original
    trainer.reduce_per_replica = reduce_per_replica


def weights_start_at_zero():
    """While in the block, every weight is created with the "zeros" initializer: loading a model file,
    each initializer would compile on its own on JAX (seconds of a cold start) for weights the file
    replaces at once. Keras has no public switch for "the weights come from a file"."""
    from unittest import mock

    import keras

    add_weight = keras.layers.Layer.add_weight

    def zeros_first(self, *args, **kwargs):
        return add_weight(self, *args, **{**kwargs, "initializer": "zeros"})

    return mock.patch.object(keras.layers.Layer, "add_weight", zeros_first)

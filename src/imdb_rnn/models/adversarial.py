"""Adversarial training on the embeddings (Miyato, Dai & Goodfellow 2017, "Adversarial training
methods for semi-supervised text classification"): each batch is learned twice, as it is and with
every review's embedded words moved a little in the direction that raises its loss the most.

The move is `train.adversarial` times the batch's mean word-vector length (L2 over the whole review),
so the model cannot shrug it off by growing its embeddings. JAX only: Keras has no hook between the
embedding and the next layer, so a layer takes the move from the training step. `classifier()` gives
back the plain Sequential that is saved and served."""

from __future__ import annotations

import functools


@functools.cache
def perturbation_classes():
    """(EmbeddingPerturbation, AdversarialSequential), defined once Keras runs on JAX (once: the
    training step finds its layer by class)."""
    import jax
    import jax.numpy as jnp
    import keras

    class EmbeddingPerturbation(keras.layers.Layer):
        """Identity, except inside the adversarial step (`delta` set, zeros in its clean pass): adds
        `delta` to the embedded reviews and measures their mean word-vector length (padding left out)."""

        delta = word_length = None

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, embedded, mask=None):
            if self.delta is None:  # prediction, validation: nothing to measure or add
                return embedded
            lengths = jnp.sqrt(jnp.sum(embedded * embedded, axis=-1))
            words = jnp.ones_like(lengths) if mask is None else mask.astype(lengths.dtype)
            self.word_length = jax.lax.stop_gradient(jnp.sum(lengths * words) / jnp.maximum(jnp.sum(words), 1.0))
            return embedded + self.delta

    class AdversarialSequential(keras.Sequential):
        """A Sequential whose JAX training step adds the loss on adversarially moved embeddings."""

        strength = 0.0

        def compute_loss_and_updates(self, *state, training=False, optimizer_variables=None):
            # state: trainable, non-trainable and metrics variables, x, y, sample_weight
            plain = functools.partial(super().compute_loss_and_updates, *state, optimizer_variables=optimizer_variables)
            if not training or not self.strength:
                return plain(training=training)
            perturbation = next(layer for layer in self.layers if isinstance(layer, EmbeddingPerturbation))

            def loss_with(delta):
                perturbation.delta = delta  # read while this step is traced; never left set
                try:
                    loss, aux = plain(training=True)
                finally:
                    perturbation.delta = None
                return loss, (loss, aux, perturbation.word_length)

            zero = jnp.zeros((*tuple(state[3].shape), self.layers[0].output_dim), "float32")
            gradient, (loss, aux, word_length) = jax.grad(loss_with, has_aux=True)(zero)
            gradient = jax.lax.stop_gradient(gradient)
            norm = jnp.sqrt(jnp.sum(gradient * gradient, axis=(1, 2), keepdims=True)) + 1e-12
            adversarial_loss, _ = loss_with(self.strength * word_length * gradient / norm)
            # The logged loss stays the plain one (aux), comparable with val_loss and other runs.
            return loss + adversarial_loss, aux

    return EmbeddingPerturbation, AdversarialSequential


def classifier(model):
    """The plain Sequential classifier inside an adversarially trained model: the same layer
    objects (so the same weights), without the perturbation layer; `model` itself when plain."""
    import keras

    from imdb_rnn.models.rnn import hard_label_accuracy

    kept = [layer for layer in model.layers if type(layer).__name__ != "EmbeddingPerturbation"]
    if len(kept) == len(model.layers):
        return model
    plain = keras.Sequential([keras.Input(shape=model.input_shape[1:], dtype="int32"), *kept], name=model.name)
    plain.compile(optimizer=model.optimizer, loss=model.loss, weighted_metrics=[hard_label_accuracy()(name="accuracy")])
    return plain

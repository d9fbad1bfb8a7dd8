"""Pretraining on the train split's and the unlabeled reviews' text (Johnson & Zhang 2016, "Supervised
and semi-supervised text categorization using LSTM for region embeddings", sized for this machine).

A forward and a backward GRU read the classifier's own Embedding (same vocabulary ids as
data/padded/vocab.json); the forward state at each position predicts the bag of the next `window`
words, the backward state the bag of the previous `window` words. Only words are predicted (never
word pairs), only the `targets` most frequent of them, and never a word the state has already read
(a pair "a b" read by the backward GRU reveals "a"). The loss is negative sampling with `negatives`
words shared by a batch, drawn from the targets' frequency to the power 0.75, so a step costs a
(batch x steps x negatives) product instead of a softmax over the vocabulary.

`train.init: pretrained` then starts the classifier's Embedding and Bidirectional GRU from these
weights (forward layer <- forward GRU, backward layer <- backward GRU); `train.init: region` keeps
them frozen and feeds their states at each position (the "region embedding") to the classifier
beside its own embedding. Either way the saved model is a plain Keras model of Keras' own layers.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from imdb_rnn.data.corpus import Corpus, batch, chunk_starts, negative_distribution
from imdb_rnn.data.text import PAD_ID
from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.params import PretrainParams

WEIGHTS_FILE = "weights.npz"  # embedding, forward_0..2, backward_0..2 (Keras GRU kernel, recurrent kernel, bias)
RUN_FILE = "run.json"  # the stage's MLflow run, for train's lineage tags
SIDES = ("forward", "backward")
REGION_EMBEDDING, REGION_STATES = "region_embedding", "region"  # the frozen layers of train.init region


def build_pretraining_model(vocabulary_size: int, params: PretrainParams):
    """ids -> Embedding (masking padding, as the classifier) -> (forward GRU states, backward GRU
    states in the backward layer's own order: Keras' Bidirectional flips them the same way)."""
    import keras
    from keras import layers

    ids = keras.Input(shape=(None,), dtype="int32")
    embedded = layers.Embedding(vocabulary_size, params.embedding_dim, mask_zero=True, name="embedding")(ids)
    forward = layers.GRU(params.units, return_sequences=True, name="forward")(embedded)
    backward = layers.GRU(params.units, return_sequences=True, go_backwards=True, name="backward")(embedded)
    return keras.Model(ids, [forward, backward], name="pretraining")


def side_loss(states, output, bias, targets, negatives):
    """Negative sampling: each present target's score pushed up, the shared negatives' down (each
    positive paired with the negatives' mean). (sum of losses, number of positives)."""
    import jax
    import jax.numpy as jnp

    present = targets >= 0
    picked = jnp.maximum(targets, 0)
    positive = jnp.einsum("bsu,bswu->bsw", states, output[picked]) + bias[picked]
    negative = jnp.einsum("bsu,ku->bsk", states, output[negatives]) + bias[negatives]
    counts = present.sum(axis=-1)
    total = jnp.sum(jax.nn.softplus(-positive) * present) + jnp.sum(
        jnp.mean(jax.nn.softplus(negative), axis=-1) * counts
    )
    return total, counts.sum()


class Pretrainer:
    """The pretraining model, its output weights and optimizer, and a jitted step on JAX."""

    def __init__(self, vocabulary_size: int, params: PretrainParams):
        import jax
        import jax.numpy as jnp
        import keras

        self.model = build_pretraining_model(vocabulary_size, params)
        rng = np.random.default_rng(params.seed)
        self.outputs = [
            keras.Variable(rng.normal(0, 0.05, shape).astype("float32"), name=name)
            for side in SIDES
            for name, shape in ((f"{side}_output", (params.targets, params.units)), (f"{side}_bias", (params.targets,)))
        ]
        self.variables = [*self.model.trainable_variables, *self.outputs]
        self.optimizer = keras.optimizers.Adam(params.learning_rate, clipnorm=1.0)
        self.optimizer.build(self.variables)
        model_count = len(self.model.trainable_variables)
        model = self.model

        def loss(trainable, non_trainable, ids, forward_targets, backward_targets, negatives):
            (forward, backward), non_trainable = model.stateless_call(
                trainable[:model_count], non_trainable, ids, training=True
            )
            backward = jnp.flip(backward, axis=1)  # back in the order of the steps
            f_out, f_bias, b_out, b_bias = trainable[model_count:]
            f_total, f_count = side_loss(forward, f_out, f_bias, forward_targets, negatives)
            b_total, b_count = side_loss(backward, b_out, b_bias, backward_targets, negatives)
            return (f_total + b_total) / jnp.maximum(f_count + b_count, 1), non_trainable

        def step(trainable, non_trainable, optimizer_variables, ids, forward_targets, backward_targets, negatives):
            (value, non_trainable), grads = jax.value_and_grad(loss, has_aux=True)(
                trainable, non_trainable, ids, forward_targets, backward_targets, negatives
            )
            trainable, optimizer_variables = self.optimizer.stateless_apply(optimizer_variables, grads, trainable)
            return trainable, non_trainable, optimizer_variables, value

        self._step = jax.jit(step, donate_argnums=(0, 1, 2))
        self.state = (
            [v.value for v in self.variables],
            [v.value for v in self.model.non_trainable_variables],
            [v.value for v in self.optimizer.variables],
        )

    def step(self, ids, forward_targets, backward_targets, negatives) -> float:
        trainable, non_trainable, optimizer_variables, value = self._step(
            *self.state, ids, forward_targets, backward_targets, negatives
        )
        self.state = (trainable, non_trainable, optimizer_variables)
        return value

    def weights(self) -> dict[str, np.ndarray]:
        for variable, value in zip(self.variables, self.state[0], strict=True):  # the jitted state, back in Keras
            variable.assign(value)
        weights = {"embedding": np.asarray(self.model.get_layer("embedding").get_weights()[0])}
        for side in SIDES:
            for index, value in enumerate(self.model.get_layer(side).get_weights()):
                weights[f"{side}_{index}"] = np.asarray(value)
        return weights


def pretrain(
    corpus: Corpus, vocabulary_size: int, params: PretrainParams, on_epoch=None, on_progress=None
) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Train on `corpus` for params.epochs: the weights and, per epoch, {"epoch", "loss", "tokens",
    "seconds", "tokens_per_second"}. Terms (padding excluded) count as tokens. `on_epoch(row)` after
    each epoch, `on_progress(step, loss, tokens/s)` now and then."""
    trainer = Pretrainer(vocabulary_size, params)
    rng = np.random.default_rng(params.seed)
    distribution = negative_distribution(corpus, params.targets)
    all_rows, all_starts = chunk_starts(corpus, params.chunk)
    batches = max(1, len(all_rows) // params.batch_size)  # the last partial batch is left out: one compiled shape
    table, step = [], 0
    for epoch in range(1, params.epochs + 1):
        order = rng.permutation(len(all_rows))
        if len(order) < params.batch_size:  # a tiny corpus: chunks repeated to fill one batch
            order = np.resize(order, params.batch_size)
        start, tokens, losses = time.perf_counter(), 0, []
        for index in range(batches):
            picked = order[index * params.batch_size : (index + 1) * params.batch_size]
            ids, forward, backward = batch(corpus, all_rows[picked], all_starts[picked], params.chunk, params.window)
            negatives = rng.choice(params.targets, size=params.negatives, p=distribution).astype("int32")
            losses.append(trainer.step(ids, forward, backward, negatives))
            tokens += int((ids != PAD_ID).sum())
            step += 1
            if on_progress and step % 50 == 0:
                on_progress(step, float(losses[-1]), tokens / (time.perf_counter() - start))
        loss = float(np.mean([float(value) for value in losses]))  # waits for the last step
        seconds = time.perf_counter() - start
        row = {"epoch": epoch, "loss": loss, "tokens": tokens, "seconds": seconds}
        row["tokens_per_second"] = tokens / seconds
        if not np.isfinite(loss):
            raise PipelineError(
                f"pretrain: the loss became {loss} in epoch {epoch} (pretrain.learning_rate "
                f"{params.learning_rate:g} too high?): pretraining stopped"
            )
        table.append(row)
        if on_epoch:
            on_epoch(row)
    return trainer.weights(), table


def save_weights(path: Path, weights: dict[str, np.ndarray]) -> None:
    from imdb_rnn.runtime.outputs import atomic_path

    with atomic_path(path) as tmp, tmp.open("wb") as stream:  # a file object: np.savez would append .npz
        np.savez(stream, **weights)


def load_weights(pretrained_dir: Path) -> dict[str, np.ndarray]:
    path = Path(pretrained_dir) / WEIGHTS_FILE
    try:
        with np.load(path) as data:
            weights = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{path}: not a pretrain stage's weights: {exc}") from None
    if not weights:
        raise PipelineError(f"{path}: empty (pretrain.method none): nothing to start train.init pretrained from")
    return weights


def load_into(model, pretrained_dir: Path) -> None:
    """The pretrained weights set into a built classifier: its frozen region layers (train.init
    region), else its first Embedding and Bidirectional GRU (train.init pretrained)."""
    from keras import layers

    weights = load_weights(pretrained_dir)
    named = {layer.name: layer for layer in model.layers}
    if REGION_STATES in named:
        embedding, recurrent = named[REGION_EMBEDDING], named[REGION_STATES]
    else:
        embedding = next(layer for layer in model.layers if isinstance(layer, layers.Embedding))
        recurrent = next(layer for layer in model.layers if isinstance(layer, layers.Bidirectional))
    pairs = [
        (embedding, [weights["embedding"]]),
        *((getattr(recurrent, f"{side}_layer"), [weights[f"{side}_{index}"] for index in range(3)]) for side in SIDES),
    ]
    for layer, values in pairs:
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        if shapes != [value.shape for value in values]:
            raise PipelineError(
                f"train.init pretrained: {layer.name} has weights {shapes}, the pretrain stage's "
                f"are {[value.shape for value in values]} (pretrain on the same vocabulary and sizes)"
            )
        layer.set_weights(values)

"""Pretraining on the train split's and the unlabeled reviews' text (Johnson & Zhang 2016, "Supervised
and semi-supervised text categorization using LSTM for region embeddings", sized for this machine): a
forward and a backward GRU over the classifier's own Embedding, each state predicting the bag of the
next (previous) `window` words (imdb_rnn.data.corpus) by negative sampling, `negatives` words shared
by a batch (a batch x steps x negatives product, not a softmax over the vocabulary); fit by Keras.

train.init pretrained starts the classifier's Embedding and Bidirectional GRU (forward layer <- forward
GRU, backward <- backward) from these weights; region keeps them frozen, their states beside the
classifier's own embedding. Either way the saved model is a plain Keras model of Keras' own layers."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.params import PretrainParams

WEIGHTS_FILE = "weights.npz"  # embedding, forward_0..2, backward_0..2 (Keras GRU kernel, recurrent kernel, bias)
RUN_FILE = "run.json"  # the stage's MLflow run, for train's lineage tags
SIDES = ("forward", "backward")
REGION_EMBEDDING, REGION_STATES = "region_embedding", "region"  # the frozen layers of train.init region


def region_model(vocabulary_size: int, params: PretrainParams):
    """The compiled pretraining model: ids -> Embedding (masking padding, as the classifier) -> forward
    and backward GRU states, each scored against `targets` output vectors (negative sampling's loss)."""
    import keras
    from keras import layers, ops

    class RegionModel(keras.Model):
        def __init__(self):
            super().__init__(name="pretraining")
            ids = keras.Input(shape=(None,), dtype="int32")
            embedded = layers.Embedding(vocabulary_size, params.embedding_dim, mask_zero=True, name="embedding")(ids)
            gru = functools.partial(layers.GRU, params.units, return_sequences=True)
            states = [gru(name="forward")(embedded), gru(go_backwards=True, name="backward")(embedded)]
            self.encoder = keras.Model(ids, states)
            shapes = ((params.targets, params.units), (params.targets,))  # each side's output vectors and biases
            self.scorers = [[self.add_weight(shape, "random_normal") for shape in shapes] for _ in SIDES]
            self.compile(keras.optimizers.Adam(params.learning_rate, clipnorm=1.0))

        def call(self, x):
            return self.encoder(x[0])

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            """Each present target's score pushed up, the batch's negatives' down (each positive paired
            with the negatives' mean), over all positives of both sides."""
            _, *side_targets, negatives = x
            total, count = 0.0, 0.0
            side_states = (y_pred[0], ops.flip(y_pred[1], axis=1))  # the backward states in step order
            for states, targets, (output, bias) in zip(side_states, side_targets, self.scorers, strict=True):
                present = ops.cast(targets >= 0, "float32")
                picked = ops.maximum(targets, 0)
                positive = ops.einsum("bsu,bswu->bsw", states, ops.take(output, picked, axis=0))
                positive += ops.take(bias, picked)
                negative = ops.einsum("bsu,ku->bsk", states, ops.take(output, negatives, axis=0))
                counts = ops.sum(present, axis=-1)
                total += ops.sum(ops.softplus(-positive) * present)
                total += ops.sum(ops.mean(ops.softplus(negative + ops.take(bias, negatives)), axis=-1) * counts)
                count += ops.sum(counts)
            return total / ops.maximum(count, 1.0)

    return RegionModel()


def pretrain(data, vocabulary_size: int, params: PretrainParams, on_epoch) -> tuple[dict, list[dict]]:
    """Train on `data` (imdb_rnn.data.corpus.chunk_batches) for params.epochs, printing the progress:
    the weights and, per epoch, {"epoch", "loss", "tokens", "seconds", "tokens_per_second"}, given to
    `on_epoch(row, step=epoch)` without "epoch" (mlflow.log_metrics). Terms count as tokens."""
    import keras

    model = region_model(vocabulary_size, params)
    table = []

    class Log(keras.callbacks.Callback):
        async_safe = True  # its batch hook runs beside training: no wait for every step

        def on_epoch_begin(self, epoch, logs=None):
            data.plan(epoch)
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if (step := len(table) * len(data) + batch + 1) % 50 == 0:
                speed = data.tokens[: batch + 1].sum() / (time.perf_counter() - self.start)
                print(f"pretrain: step {step}: loss {logs['loss']:.4f}, {speed:,.0f} tokens/s", flush=True)

        def on_epoch_end(self, epoch, logs=None):
            loss, seconds, tokens = logs["loss"], time.perf_counter() - self.start, int(data.tokens.sum())
            if not np.isfinite(loss):
                raise PipelineError(
                    f"pretrain: the loss became {loss} in epoch {epoch + 1} (pretrain.learning_rate "
                    f"{params.learning_rate:g} too high?): pretraining stopped"
                )
            row = {"loss": loss, "tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds}
            table.append({"epoch": epoch + 1, **row})
            speed = row["tokens_per_second"]
            print(
                f"pretrain: epoch {epoch + 1}: loss {loss:.4f}, {speed:,.0f} tokens/s, {seconds / 60:.1f} min",
                flush=True,
            )
            on_epoch(row, step=epoch + 1)

    model.fit(data, epochs=params.epochs, callbacks=[Log()], shuffle=False, verbose=0)
    names = ["embedding", *(f"{side}_{index}" for side in SIDES for index in range(3))]
    return dict(zip(names, model.encoder.get_weights(), strict=True)), table


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
    targets = {"embedding": embedding, "forward_": recurrent.forward_layer, "backward_": recurrent.backward_layer}
    for prefix, layer in targets.items():
        values = [value for name, value in weights.items() if name.startswith(prefix)]  # in the order saved
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        if shapes != [value.shape for value in values]:
            raise PipelineError(
                f"train.init pretrained: {layer.name} has weights {shapes}, the pretrain stage's "
                f"are {[value.shape for value in values]} (pretrain on the same vocabulary and sizes)"
            )
        layer.set_weights(values)

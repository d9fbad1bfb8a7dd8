"""Keras' fit for every `train` option: length-bucketed or sharded batches, early stopping, a stop
on a diverged loss; returns the plain classifier and its per-epoch table."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from imdb_rnn.data import batches
from imdb_rnn.data.text import Vocabulary
from imdb_rnn.models import adversarial, pretraining
from imdb_rnn.models.rnn import build_model, terminate_on_nan
from imdb_rnn.runtime.devices import Placement
from imdb_rnn.runtime.params import Params

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]


def fit(
    params: Params,
    placement: Placement,
    vocabulary: Vocabulary,
    training_data,
    validation_data,
    callbacks: list,
    pretrained_dir: Path | None = None,
):
    """(model, per-epoch table, the epoch whose weights it keeps) after training on this process's
    share of (x, y, sample weights or None) and (x_val, y_val); train.init pretrained: the embedding
    and recurrent layers start from the pretrain stage's weights in `pretrained_dir`."""
    import keras

    x_train, y_train, weights = training_data
    x_val, y_val = validation_data
    # A model that masks padding trains on batches cut to their reviews' length (imdb_rnn.data.batches).
    bucketed = params.train.mask_padding and params.train.buckets > 0 and params.train.distribute == "none"
    with placement.scope:  # the model's variables, on every replica
        model = build_model(params.train, len(vocabulary), None if bucketed else x_train.shape[1])
    placement.build(model, (x_train[: params.train.batch_size], y_train[: params.train.batch_size]))
    if params.train.init != "none":
        pretraining.load_into(model, pretrained_dir)
    # A loss that turns NaN or infinite (a learning rate far too high) never recovers: stop.
    callbacks = [*callbacks, terminate_on_nan()]
    stopper = None
    if params.train.early_stopping:
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=params.train.early_stopping, restore_best_weights=True
        )
        callbacks = [*callbacks, stopper]
    if bucketed:
        data = {
            "x": batches.training_batches(
                x_train,
                y_train,
                params.train.batch_size,
                vocabulary.padding,
                params.train.seed,
                shuffle=True,
                buckets=params.train.buckets,
                weights=weights,
            ),
            "validation_data": batches.training_batches(
                x_val,
                y_val,
                params.train.batch_size,
                vocabulary.padding,
                0,
                shuffle=False,
                buckets=params.train.buckets,
            ),
        }
    else:
        x, y, sample_weight = placement.shard(x_train, y_train, weights)
        data = {
            "x": x,
            "y": y,
            "sample_weight": sample_weight,
            "validation_data": placement.shard(x_val, y_val),
            "batch_size": placement.batch_size(params.train.batch_size),
        }
    with placement.peers_watched():
        history = model.fit(
            **data,
            epochs=params.train.epochs,
            callbacks=callbacks,
            verbose=1 if sys.stdout.isatty() else 2,  # a progress bar in a terminal, a line per epoch in logs
        )
    table = pd.DataFrame(history.history)
    table.insert(0, "epoch", range(1, len(table) + 1))
    # Keras 3 restores the best (lowest val_loss) epoch's weights at the end, stopped early or not.
    kept_epoch = stopper.best_epoch + 1 if stopper is not None else len(table)
    return adversarial.classifier(model), table[HISTORY_COLUMNS], kept_epoch


def training_summary(table: pd.DataFrame, seconds: list[float], kept_epoch: int, replicas: int, workers: int) -> dict:
    """metrics/train.json: the epochs run and their time, the epoch kept, the last epoch's metrics."""
    return {
        "epochs": len(table),
        "seconds": round(sum(seconds), 3),
        "seconds_per_epoch": round(sum(seconds) / len(seconds), 3),
        "replicas": replicas,
        "workers": workers,
        "kept_epoch": kept_epoch,
        **{f"final_{name}": float(table[name].iloc[-1]) for name in HISTORY_COLUMNS[1:]},
    }

"""Keras' fit for every `train` option: the classifier built where training runs, early stopping, a stop
on a diverged loss; the plain classifier, its per-epoch table and metrics/train.json's summary."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from imdb_rnn.data import batches
from imdb_rnn.data.splits import TrainingData
from imdb_rnn.models import adversarial, pretraining
from imdb_rnn.models.rnn import build_model, terminate_on_nan
from imdb_rnn.runtime.devices import Placement
from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.params import TrainParams

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]


def feed(params: TrainParams, placement: Placement, data: TrainingData) -> tuple[dict, int | None]:
    """(model.fit's data arguments, the review length the model is built for). A model that masks
    padding, on one process, reads seeded batches cut to their reviews' length (imdb_rnn.data.batches),
    of any length; any other reads this process's share of the arrays (Placement.shard)."""
    if params.mask_padding and params.buckets > 0 and params.distribute == "none":
        cut = {"batch_size": params.batch_size, "padding": data.vocabulary.padding, "buckets": params.buckets}
        train = batches.training_batches(data.x, data.y, **cut, seed=params.seed, shuffle=True, weights=data.weights)
        validation = batches.training_batches(data.x_val, data.y_val, **cut, seed=0, shuffle=False)
        return {"x": train, "validation_data": validation}, None
    arrays = dict(zip(("x", "y", "sample_weight"), placement.shard(data.x, data.y, data.weights), strict=True))
    validation = {"validation_data": placement.shard(data.x_val, data.y_val)}
    return arrays | validation | {"batch_size": placement.batch_size(params.batch_size)}, data.x.shape[1]


@dataclass
class Fitted:
    model: object  # the plain classifier (adversarial.classifier), holding the kept epoch's weights
    table: pd.DataFrame  # one row per epoch run: HISTORY_COLUMNS
    kept_epoch: int  # the epoch whose weights it holds (early stopping restores the best)
    placement: Placement

    def save(self, path: Path) -> None:
        """Every worker saves (saving may take part in collectives), then waits for all the others."""
        with self.placement.peers_watched():
            self.model.save(path)
        self.placement.barrier()

    def summary(self, seconds: list[float]) -> dict:
        """metrics/train.json: the epochs run and their time, the kept epoch's metrics (those of the
        model saved) and, named so, the last epoch's."""
        kept, last = self.table.iloc[self.kept_epoch - 1], self.table.iloc[-1]
        return {
            "epochs": len(self.table),
            "seconds": round(sum(seconds), 3),
            "seconds_per_epoch": round(sum(seconds) / len(seconds), 3),
            "replicas": self.placement.replicas,
            "workers": self.placement.cluster.workers,
            "kept_epoch": self.kept_epoch,
            **{name: float(kept[name]) for name in HISTORY_COLUMNS[1:]},
            **{f"last_epoch_{name}": float(last[name]) for name in HISTORY_COLUMNS[1:]},
        }


def fit(
    params: TrainParams, placement: Placement, data: TrainingData, callbacks: list, pretrained_dir: Path | None = None
) -> Fitted:
    """The classifier trained on this process's share of `data`, from the pretrain stage's weights in
    `pretrained_dir` if train.init says so. A loss turned NaN or infinite: one line (PipelineError)."""
    import keras

    arguments, max_len = feed(params, placement, data)
    with placement.scope:  # the model's variables, on every replica
        model = build_model(params, len(data.vocabulary), max_len)
    placement.build(model, (data.x[: params.batch_size], data.y[: params.batch_size]))
    if params.init != "none":
        pretraining.load_into(model, pretrained_dir)
    # A loss that turns NaN or infinite (a learning rate far too high) never recovers: stop.
    callbacks = [*callbacks, terminate_on_nan()]
    if params.early_stopping:
        stopper = keras.callbacks.EarlyStopping(patience=params.early_stopping, restore_best_weights=True)  # val_loss
        callbacks.append(stopper)
    verbose = 1 if sys.stdout.isatty() else 2  # a progress bar in a terminal, a line per epoch in logs
    with placement.peers_watched():
        history = model.fit(**arguments, epochs=params.epochs, callbacks=callbacks, verbose=verbose)
    table = pd.DataFrame(history.history)
    table.insert(0, "epoch", range(1, len(table) + 1))
    diverged = table[~np.isfinite(table["loss"])]
    if len(diverged):
        raise PipelineError(
            f"train: the loss became {diverged['loss'].iloc[0]} in epoch {diverged['epoch'].iloc[0]} "
            f"(train.learning_rate {params.learning_rate:g} too high?): training stopped"
        )
    # Keras 3 restores the best (lowest val_loss) epoch's weights at the end, stopped early or not.
    kept_epoch = stopper.best_epoch + 1 if params.early_stopping else len(table)
    return Fitted(adversarial.classifier(model), table[HISTORY_COLUMNS], kept_epoch, placement)

"""imdb_rnn.models.fitting: the training figures are those of the model trained and kept."""

from __future__ import annotations

import signal

import keras
import numpy as np
import pytest

from imdb_rnn.data.splits import TrainingData
from imdb_rnn.data.text import Vocabulary
from imdb_rnn.models import fitting
from imdb_rnn.runtime import errors
from imdb_rnn.runtime.devices import distribution
from tests.helpers import DEFAULT_PARAMS

TINY = DEFAULT_PARAMS.train.model_copy(update={"units": 2, "embedding_dim": 2, "batch_size": 4})
VOCABULARY = Vocabulary(["", "[UNK]", *"abcdefgh"], max_len=5, padding="pre", truncating="pre")
X = np.random.default_rng(0).integers(2, 10, size=(8, 5)).astype("int32")


class PredictsPositive(keras.callbacks.Callback):
    """Before the first step: every review scores sigmoid(5) = 0.993 (positive), whatever it holds."""

    def on_train_begin(self, logs=None):
        kernel, _ = self.model.layers[-1].get_weights()
        self.model.layers[-1].set_weights([np.zeros_like(kernel), np.array([5.0], "float32")])


def test_training_accuracy_is_against_the_hard_label_weighted_as_the_loss():
    """train.unlabeled_weight: the teacher's probabilities are targets. 4 labeled reviews (weight 1),
    3 of them positive, and 4 teacher-labeled (weight 0.5), 1 of them positive (p >= 0.5); a model
    that calls every review positive is right on 3 + 0.5 of 6 weights: 0.583. Keras' own binary
    accuracy compared 0.993 with 0.9 exactly, unweighted: 3 of 8 (0.375)."""
    y = np.array([1, 1, 1, 0, 0.9, 0.3, 0.2, 0.1], "float32")
    weights = np.array([1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5], "float32")
    data = TrainingData(X, y, weights, X[:4], np.array([1, 1, 0, 0]), VOCABULARY)
    keras.utils.set_random_seed(0)
    params = TINY.model_copy(update={"epochs": 1, "learning_rate": 0.0})  # the weights stay as set
    fitted = fitting.fit(params, distribution(params), data, [PredictsPositive()])
    assert fitted.table["accuracy"].tolist() == [pytest.approx(3.5 / 6)]
    assert fitted.table["val_accuracy"].tolist() == [pytest.approx(0.5)]  # hard labels: as before
    assert fitted.summary([1.0])["accuracy"] == pytest.approx(3.5 / 6)


def test_the_summary_reports_the_epoch_kept_and_names_the_last_one():
    """Validation labels the opposite of training's: val_loss soon rises, early stopping keeps an
    earlier epoch than the last, and metrics/train.json's figures are the kept epoch's (the saved
    model's); the last epoch's are named so."""
    keras.utils.set_random_seed(1)
    y = np.array([1, 0] * 4, "float32")
    data = TrainingData(X, y, None, X, 1 - y, VOCABULARY)
    params = TINY.model_copy(update={"epochs": 4, "early_stopping": 1, "optimizer": "adam", "learning_rate": 0.05})
    fitted = fitting.fit(params, distribution(params), data, [])
    table, kept = fitted.table, fitted.kept_epoch
    summary = fitted.summary([1.0] * len(table))
    assert kept == table["val_loss"].idxmin() + 1 < len(table) == summary["epochs"]
    assert summary["kept_epoch"] == kept
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert summary[name] == pytest.approx(table[name].iloc[kept - 1])
        assert summary[f"last_epoch_{name}"] == pytest.approx(table[name].iloc[-1])
    assert summary["val_loss"] != pytest.approx(summary["last_epoch_val_loss"])
    evaluated = fitted.model.evaluate(X, 1 - y, verbose=0, return_dict=True)  # the model it returns
    assert evaluated["loss"] == pytest.approx(summary["val_loss"], rel=1e-4)
    assert evaluated["accuracy"] == pytest.approx(summary["val_accuracy"])


class RaisesCtrlC:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)  # its handler runs at once, in here: Python drops the KeyboardInterrupt


def test_a_ctrl_c_whose_keyboard_interrupt_python_dropped_still_stops_training_at_the_epochs_end(capsys):
    """Seen in CI: the KeyboardInterrupt of a Ctrl-C raised in SQLAlchemy's weakref callback (a garbage
    collection), where Python prints 'Exception ignored in' and goes on; training ran all its epochs."""
    epochs = []
    track = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epochs.append(epoch))
    y = np.array([1, 0] * 4, "float32")

    def stage():
        RaisesCtrlC()  # dropped at once: no exception here
        params = TINY.model_copy(update={"epochs": 3})
        fitting.fit(params, distribution(params), TrainingData(X, y, None, X, y, VOCABULARY), [track])

    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal starts a command (not ignored)
    try:
        with pytest.raises(SystemExit) as exited:
            errors.run(stage)
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
        errors.received.clear()
    assert exited.value.code == 130 and epochs == [0], epochs
    assert capsys.readouterr().err.splitlines()[-1] == "error: interrupted by SIGINT"

"""The run's figures (matplotlib, no display needed), logged to MLflow as PNG artifacts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # stages run headless

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from imdb_rnn.tracking.store import mlflow


def training_curves(history: pd.DataFrame, kept_epoch: int | None = None) -> plt.Figure:
    """Loss and accuracy per epoch, training against validation (metrics/history.csv), and `kept_epoch`, the
    epoch whose weights the model holds, marked when early stopping restored an earlier one than the last."""
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    history.plot(x="epoch", y=["loss", "val_loss"], ax=loss_axes, marker="o", title="Loss")
    history.plot(x="epoch", y=["accuracy", "val_accuracy"], ax=accuracy_axes, marker="o", title="Accuracy")
    for axes in (loss_axes, accuracy_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs, not 1.25
        if kept_epoch is not None and kept_epoch < int(history["epoch"].max()):
            axes.axvline(
                kept_epoch, color="tab:green", linestyle="--", label=f"kept: epoch {kept_epoch} (lowest val_loss)"
            )
            axes.legend()
    return figure


def confusion_matrix(actual: np.ndarray, predicted: np.ndarray, split: str) -> plt.Figure:
    from sklearn.metrics import ConfusionMatrixDisplay  # here: train, which draws none, spares the import (1.4 s)

    display = ConfusionMatrixDisplay.from_predictions(
        actual, predicted, labels=[0, 1], display_labels=["negative", "positive"], values_format="d", colorbar=False
    )
    display.ax_.set_title(f"Confusion matrix ({split})")
    return display.figure_


def roc_curve(actual: np.ndarray, probability: np.ndarray, split: str) -> plt.Figure:
    from sklearn.metrics import RocCurveDisplay

    display = RocCurveDisplay.from_predictions(actual, probability, name="model", plot_chance_level=True)
    display.ax_.set_title(f"ROC ({split})")
    return display.figure_


def log(figure: plt.Figure, name: str) -> None:
    """Log `figure` to the active MLflow run as plots/<name>.png and free it."""
    try:
        mlflow.log_figure(figure, f"plots/{name}.png")
    finally:
        plt.close(figure)

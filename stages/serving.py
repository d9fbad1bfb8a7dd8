"""The model as users get it: raw review text in, probability and label out. The same classifier
backs `stages.predict` and the MLflow model (stages/serving_model.py) that evaluate logs and registers.
MLflow is imported only to log the model, so predicting from local files does not pay for it."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from stages.common import PipelineError
from stages.text import Vocabulary, texts_to_padded

STAGES_DIR = Path(__file__).resolve().parent
# Reviews per model call. Large batches amortise the per-step cost of the recurrent loop: on 10,000
# short reviews (max_len 500) JAX took 11 s per predict call at 1024 and 5 s at 4096 here.
BATCH_SIZE = 4096
# What the logged model needs at serving time, pinned to the versions installed here (the lock's),
# so MLflow need not infer them by importing the model in a subprocess.
SERVING_PACKAGES = ("mlflow", "keras", "numpy", "pandas", "pydantic", "ruamel.yaml")
BACKEND_PACKAGES = {"tensorflow": ("tensorflow-cpu",), "jax": ("jax", "jaxlib")}
INPUT_EXAMPLE = pd.DataFrame({"text": [
    "A wonderful film: moving, funny and beautifully acted. I loved every minute.",
    "Dull, predictable and far too long. The worst movie I have seen this year.",
]})


def load_keras_model(path: Path | str):
    """The trained Keras model, in safe mode: a model file may not run its author's code."""
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{path}: cannot load the model: {exc}") from None


class SentimentClassifier:
    """A trained Keras model with the vocabulary it was trained on, applied to review text
    through the pad stage's own preprocessing (stages.text)."""

    def __init__(self, model, vocabulary: Vocabulary, threshold: float = 0.5, batch_size: int = BATCH_SIZE) -> None:
        self.model, self.vocabulary, self.threshold, self.batch_size = model, vocabulary, threshold, batch_size

    @classmethod
    def from_files(cls, model_path: Path | str, vocabulary_path: Path | str, backend: str | None = None,
                   threshold: float = 0.5, batch_size: int = BATCH_SIZE) -> "SentimentClassifier":
        if backend:  # only effective before Keras is first imported in this process
            os.environ.setdefault("KERAS_BACKEND", backend)
        vocabulary = Vocabulary.load(vocabulary_path)
        return cls(load_keras_model(model_path), vocabulary, threshold, batch_size)

    def predict(self, texts: Iterable[str]) -> pd.DataFrame:
        """One row per review, in order: probability (of positive) and label (1/0)."""
        x = texts_to_padded(texts, self.vocabulary)
        if len(x) == 0:
            return pd.DataFrame({"probability": np.empty(0), "label": np.empty(0, dtype="int64")})
        probability = np.asarray(self.model.predict(x, batch_size=self.batch_size, verbose=0)).ravel().astype("float64")
        return pd.DataFrame({"probability": probability, "label": (probability >= self.threshold).astype("int64")})


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "text")]),
        outputs=Schema([ColSpec("double", "probability"), ColSpec("long", "label")]),
    )


def pip_requirements(backend: str) -> list[str]:
    names = SERVING_PACKAGES + BACKEND_PACKAGES[backend]
    return [f"{name}=={importlib.metadata.version(name)}" for name in names]


def log_model(model_path: Path, vocabulary_path: Path, backend: str, threshold: float, registered_model_name: str,
              version_tags: dict[str, object]):
    """Log the raw-text model to the active run, with the `stages` package bundled so that the
    model is self-contained, and register it as a new version tagged with `version_tags`."""
    import mlflow.pyfunc

    from stages import tracking

    with tempfile.TemporaryDirectory() as scratch:
        code = Path(scratch) / "stages"
        shutil.copytree(STAGES_DIR, code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(STAGES_DIR / "serving_model.py"),  # models from code: nothing unpickled
            artifacts={"model": str(model_path), "vocabulary": str(vocabulary_path)},
            code_paths=[str(code)],
            model_config={"backend": backend, "threshold": threshold},
            signature=signature(),
            input_example=INPUT_EXAMPLE,
            pip_requirements=pip_requirements(backend),
            registered_model_name=registered_model_name,
            tags=tracking.user_tag(),  # else MLflow tags the model with MLFLOW_TRACKING_USERNAME
        )
    client = mlflow.MlflowClient()
    for key, value in version_tags.items():
        client.set_model_version_tag(registered_model_name, info.registered_model_version, key, str(value))
    return info

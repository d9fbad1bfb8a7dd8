"""The model as users get it: review text in, probability and label out, for imdb_rnn.cli.predict and the
registered MLflow model (imdb_rnn.serving.pyfunc); no MLflow import, so local files predict without its cost."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from imdb_rnn.data.text import OOV_ID, Vocabulary, texts_to_padded
from imdb_rnn.models import inference
from imdb_rnn.runtime.errors import PipelineError, choose_backend

# Reviews per model call. Large batches amortise the per-step cost of the recurrent loop: on 10,000
# short reviews (max_len 500) JAX took 11 s per predict call at 1024 and 5 s at 4096 here.
BATCH_SIZE = 4096
DEFAULT_BACKEND = "jax"  # a model logged without its backend in its config (params.yaml's default)


class SentimentClassifier:
    """A trained Keras model and its vocabulary, applied to review text by the pad stage's preprocessing
    (imdb_rnn.data.text); thread-safe (`mlflow models serve` answers each request in a thread)."""

    def __init__(self, model, vocabulary: Vocabulary, threshold: float = 0.5, batch_size: int = BATCH_SIZE) -> None:
        self.model, self.vocabulary, self.threshold, self.batch_size = model, vocabulary, threshold, batch_size
        # One prediction at a time: Keras builds its predict function on the first call without a lock (two
        # at once on JAX broke it for good), each uses every core anyway (benchmarks/predict_lock.py).
        self._lock = threading.Lock()

    @classmethod
    def from_files(
        cls,
        model_path: Path | str,
        vocabulary_path: Path | str,
        backend: str | None = None,
        threshold: float = 0.5,
        batch_size: int = BATCH_SIZE,
    ) -> SentimentClassifier:
        choose_backend(backend or DEFAULT_BACKEND, "backend", strict=False)
        vocabulary = Vocabulary.load(vocabulary_path)
        model = inference.load_keras_model(model_path)
        size = inference.vocabulary_size(model)
        if size is not None and len(vocabulary) > size:  # its ids would reach past the model's
            raise PipelineError(
                f"{vocabulary_path}: {len(vocabulary):,} tokens, but the model {model_path} reads "
                f"{size:,} ids: the vocabulary and the model are not from the same pipeline run"
            )
        return cls(model, vocabulary, threshold, batch_size)

    def predict(self, texts: Iterable[str]) -> pd.DataFrame:
        """One row per review, in order: probability (of positive), label (1/0), and known_words: how many
        words the model reads (after truncation to max_len) are in its vocabulary (0: the label says nothing)."""
        texts = list(texts)
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                got = "null" if text is None or text != text else type(text).__name__  # NaN: a null in pandas
                raise PipelineError(f"row {row}: text is {got}, expected a string")
        x = texts_to_padded(texts, self.vocabulary)
        probability = np.empty(0)
        if len(x):
            with self._lock:
                probability = inference.predict(self.model, x, self.vocabulary.padding, self.batch_size, "vocabulary")
        label = (probability >= self.threshold).astype("int64")
        known_words = (x > OOV_ID).sum(axis=1).astype("int64")  # vocabulary words the model reads
        return pd.DataFrame({"probability": probability, "label": label, "known_words": known_words})

"""The logged MLflow model's code ("models from code"): MLflow runs this file to load the model,
so nothing is unpickled. The `stages` package is bundled with the model (code_paths)."""

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from imdb_rnn.runtime.errors import PipelineError, redact
from imdb_rnn.serving.classifier import SentimentClassifier


class UnscorableInput(MlflowException):
    """A request the model cannot score, answered 400 with one line and no stack trace. MLflow's
    scoring server rewrites the message of any MlflowException to start with the whole input
    (a DataFrame, over many lines); the first message set is kept."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message), error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_message"):
            self._message = value


class SentimentModel(mlflow.pyfunc.PythonModel):
    """A DataFrame with a `text` column -> `probability` and `label` columns."""

    def load_context(self, context) -> None:
        config = context.model_config or {}
        self.classifier = SentimentClassifier.from_files(
            context.artifacts["model"],
            context.artifacts["vocabulary"],
            backend=config.get("backend"),
            threshold=float(config.get("threshold", 0.5)),
        )

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if "text" not in model_input:
            raise UnscorableInput("no `text` column in the input")
        try:
            return self.classifier.predict(model_input["text"])
        except PipelineError as exc:
            raise UnscorableInput(str(exc)) from None


mlflow.models.set_model(SentimentModel())

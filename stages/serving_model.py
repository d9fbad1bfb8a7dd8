"""The logged MLflow model's code ("models from code"): MLflow runs this file to load the model,
so nothing is unpickled. The `stages` package is bundled with the model (code_paths)."""

import mlflow
import pandas as pd

from stages.serving import SentimentClassifier


class SentimentModel(mlflow.pyfunc.PythonModel):
    """A DataFrame with a `text` column -> `probability` and `label` columns."""

    def load_context(self, context) -> None:
        config = context.model_config or {}
        self.classifier = SentimentClassifier.from_files(
            context.artifacts["model"], context.artifacts["vocabulary"],
            backend=config.get("backend"), threshold=float(config.get("threshold", 0.5)))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.classifier.predict(model_input["text"].astype(str))


mlflow.models.set_model(SentimentModel())

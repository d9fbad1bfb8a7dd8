"""The logged MLflow model's code ("models from code"): MLflow runs this file to load the model,
so nothing is unpickled. The `stages` package is bundled with the model (code_paths)."""

import mlflow

from stages.serving import SentimentModel

mlflow.models.set_model(SentimentModel())

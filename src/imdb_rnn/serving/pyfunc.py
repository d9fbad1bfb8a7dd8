"""The logged MLflow model's code ("models from code"): MLflow runs this file to load the model,
so nothing is unpickled. The modules it runs are bundled with the model (registry.BUNDLED_MODULES)."""

import functools
import sys

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from imdb_rnn.runtime.errors import PipelineError, one_line, redact, shorten
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
            raise UnscorableInput(MISSING_TEXT)
        try:
            return self.classifier.predict(model_input["text"])
        except PipelineError as exc:
            raise UnscorableInput(str(exc)) from None


# What MLflow's scoring server says of a request before the model sees it, made one line: its schema
# check answers a missing column with the whole input echoed over many lines, and two requests
# crash it (500): JSON nested 100,000 deep (a RecursionError in json.loads) and an empty
# Content-Type header (None.split: AttributeError).
SCORING_SERVER = "mlflow.pyfunc.scoring_server"
MISSING_TEXT = "no `text` column in the input"


def _request_error(exc: MlflowException) -> str:
    """MLflow's message for a request it refused, as one line without the input it echoes."""
    message = exc.message
    if "missing inputs" in message and "'text'" in message:
        return MISSING_TEXT
    return shorten(one_line(message.rsplit("Error: ", 1)[-1]).strip(), 300).strip("'\"")


def guard_scoring_server(module) -> None:
    """Wrap the scoring server's `invocations` (the handler of every /invocations request, looked up
    when each request comes) so that what it cannot parse is a 4xx with one line, never a 500. MLflow
    runs this file in the server's process before it builds the app; elsewhere nothing changes."""
    invocations = getattr(module, "invocations", None)
    response = getattr(module, "InvocationsResponse", None)
    if invocations is None or response is None or getattr(invocations, "imdb_guarded", False):
        return

    @functools.wraps(invocations)
    def guarded(data, content_type, model, input_schema):
        if not (content_type or "").strip():
            return response(
                response=f"no Content-Type header: expected one of {', '.join(module.CONTENT_TYPES)}",
                status=415,
                mimetype="text/plain",
            )
        try:
            return invocations(data, content_type, model, input_schema)
        except RecursionError:
            raise UnscorableInput("the request's JSON is nested too deep to read") from None
        except UnscorableInput:
            raise
        except MlflowException as exc:
            if exc.get_http_status_code() >= 500:
                raise
            raise UnscorableInput(_request_error(exc)) from None

    guarded.imdb_guarded = True
    module.invocations = guarded


if SCORING_SERVER in sys.modules:
    guard_scoring_server(sys.modules[SCORING_SERVER])

mlflow.models.set_model(SentimentModel())

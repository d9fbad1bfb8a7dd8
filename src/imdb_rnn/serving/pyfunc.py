"""The logged MLflow model's code ("models from code": MLflow runs this file to load the model, nothing is
unpickled), with the modules it runs bundled (registry.BUNDLED_MODULES)."""

import functools
import gc
import os
import sys

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from imdb_rnn.data.text import review_problem
from imdb_rnn.runtime.errors import PipelineError, one_line, redact, shorten
from imdb_rnn.serving.classifier import SentimentClassifier


class UnscorableInput(MlflowException):
    """A request the model cannot score: 400, one line (the scoring server's guard takes it back out of the
    message MLflow rewrites to start with the whole input)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message), error_code=INVALID_PARAMETER_VALUE)


class SentimentModel(mlflow.pyfunc.PythonModel):
    """A DataFrame with a `text` column -> `probability` and `label` columns."""

    def load_context(self, context) -> None:
        config, artifacts = context.model_config or {}, context.artifacts
        self.classifier = SentimentClassifier.from_files(
            artifacts["model"], artifacts["vocabulary"], config.get("backend"), float(config.get("threshold", 0.5))
        )
        # A server's pauses, taken here once: Keras builds its predict function on the first call (a second),
        # and a full collection walks every object of MLflow, Keras and JAX (~0.5 M: 0.2-1 s); what is
        # loaded is then frozen out of later collections (they walk only what requests allocate).
        self.classifier.predict(["warm up"])
        gc.collect()
        gc.freeze()

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if "text" not in model_input:
            raise UnscorableInput(MISSING_TEXT)
        for row, text in enumerate(model_input["text"]):  # imdb-predict's rule: an empty review is refused
            if isinstance(text, str) and (problem := review_problem(text)):
                raise UnscorableInput(f"row {row}: {problem}")
        try:
            return self.classifier.predict(model_input["text"])
        except PipelineError as exc:
            raise UnscorableInput(str(exc)) from None


# What MLflow's scoring server says of a request before the model sees it, made one line: a missing
# column echoed the whole input over many lines; JSON nested 100,000 deep (RecursionError) and an
# empty Content-Type header (AttributeError) crashed it (500).
SCORING_SERVER = "mlflow.pyfunc.scoring_server"
MISSING_TEXT = "no `text` column in the input"
# The largest request body scored: MLflow parses a body whole, into ~20 times its size (a 50 MB body
# took ~1 GB here). 10 MB is about 7,000 full reviews; the variable changes it.
MAX_BYTES_VARIABLE = "IMDB_SERVE_MAX_BYTES"
DEFAULT_MAX_BYTES = 10_000_000


def guard_scoring_server(module) -> None:
    """Wrap the scoring server's `invocations` (looked up for each /invocations request) so that what it
    cannot parse is a 4xx with one line, never a 500. Runs in the server's process, before it builds the app."""
    invocations = getattr(module, "invocations", None)
    response = getattr(module, "InvocationsResponse", None)
    if invocations is None or response is None or getattr(invocations, "imdb_guarded", False):
        return

    def refuse(status: int, message: str):
        return response(response=message, status=status, mimetype="text/plain")

    @functools.wraps(invocations)
    def guarded(data, content_type, model, input_schema):
        if not (content_type or "").strip():
            return refuse(415, f"no Content-Type header: expected one of {', '.join(module.CONTENT_TYPES)}")
        limit = os.environ.get(MAX_BYTES_VARIABLE, str(DEFAULT_MAX_BYTES))
        if not limit.isascii() or not limit.isdigit():
            return refuse(500, f"{MAX_BYTES_VARIABLE}: expected a number of bytes, got {shorten(limit)}")
        if len(data) > int(limit):
            return refuse(
                413, f"request body of {len(data):,} bytes: over the limit of {int(limit):,} ({MAX_BYTES_VARIABLE})"
            )
        if not data.strip():
            raise UnscorableInput(
                'empty request body: expected JSON such as {"dataframe_records": [{"text": "A review."}]}'
            )
        try:
            return invocations(data, content_type, model, input_schema)
        except RecursionError:
            raise UnscorableInput("the request's JSON is nested too deep to read") from None
        except MlflowException as exc:
            if exc.get_http_status_code() >= 500:
                raise
            if "missing inputs" in exc.message and "'text'" in exc.message:
                raise UnscorableInput(MISSING_TEXT) from None
            reason = exc.message.rsplit("Error: ", 1)[-1]  # MLflow's message (ours too) echoes the input first
            raise UnscorableInput(shorten(one_line(reason).strip(), 300).strip("'\"")) from None

    guarded.imdb_guarded = True
    module.invocations = guarded


if SCORING_SERVER in sys.modules:
    guard_scoring_server(sys.modules[SCORING_SERVER])

mlflow.models.set_model(SentimentModel())

"""The raw-text model as an MLflow model: logged with the code it runs, registered, tagged."""

from __future__ import annotations

import contextlib
import importlib.metadata
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.store.artifact.utils.models import get_model_name_and_version
from mlflow.types import ColSpec, Schema

from imdb_rnn.runtime.errors import PipelineError, redact
from imdb_rnn.tracking import promotion
from imdb_rnn.tracking import store as tracking

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/imdb_rnn
# The modules the logged model runs (the pyfunc module and what it imports; a test checks the list),
# bundled with it, with their packages' docstring-only __init__.py, so that it needs no install.
BUNDLED_MODULES = (
    "imdb_rnn.data.batches",
    "imdb_rnn.data.text",
    "imdb_rnn.models.inference",
    "imdb_rnn.models.pooling",
    "imdb_rnn.runtime.errors",
    "imdb_rnn.runtime.keras_patches",
    "imdb_rnn.runtime.outputs",
    "imdb_rnn.serving.classifier",
    "imdb_rnn.serving.pyfunc",
)
# What the logged model needs at serving time, pinned to the versions installed here (the lock's),
# so MLflow need not infer them by importing the model in a subprocess.
SERVING_PACKAGES = ("mlflow", "keras", "numpy", "pandas", "pydantic", "ruamel.yaml")
BACKEND_PACKAGES = {"tensorflow": ("tensorflow-cpu",), "jax": ("jax", "jaxlib")}
EXAMPLE_REVIEWS = [
    "A wonderful film: moving, funny and beautifully acted. I loved every minute.",
    "Dull, predictable and far too long. The worst movie I have seen this year.",
]
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "text")]),
    outputs=Schema([ColSpec("double", "probability"), ColSpec("long", "label"), ColSpec("long", "known_words")]),
)


def log_model(
    model_path: Path, vocabulary_path: Path, config: dict, name: str, tags: dict, registered: list[str]
) -> str:
    """Log the raw-text model (`config`: backend, threshold) to the active run with the modules it runs, and
    register it as a version of `name` tagged `tags`; its number, returned, goes to `registered` at once."""
    packages = SERVING_PACKAGES + BACKEND_PACKAGES[config["backend"]]
    with tempfile.TemporaryDirectory() as scratch:
        code = Path(scratch) / "imdb_rnn"
        for module in BUNDLED_MODULES:
            relative = Path(*module.split(".")[1:]).with_suffix(".py")
            (code / relative).parent.mkdir(parents=True, exist_ok=True)
            for file in (relative, *(package / "__init__.py" for package in relative.parents)):
                shutil.copy2(PACKAGE_DIR / file, code / file)
        info = tracking.mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PACKAGE_DIR / "serving" / "pyfunc.py"),  # models from code: nothing unpickled
            artifacts={"model": str(model_path), "vocabulary": str(vocabulary_path)},
            code_paths=[str(code)],
            model_config=config,
            signature=SIGNATURE,
            input_example=pd.DataFrame({"text": EXAMPLE_REVIEWS}),
            pip_requirements=[f"{name}=={importlib.metadata.version(name)}" for name in packages],
            tags=tracking.user_tag(),  # else MLflow tags the model with MLFLOW_TRACKING_USERNAME
        )
    tags = tracking.user_tag() | {key: str(value) for key, value in tags.items()}
    registered.append(tracking.mlflow.register_model(info.model_uri, name, tags=tags).version)
    return registered[-1]


@contextlib.contextmanager
def withdrawn_unless_finished(name: str) -> Iterator[list[str]]:
    """Versions of `name` registered in the block (it appends their numbers) deleted, and the alias settled
    again, unless it finishes (an error, Ctrl-C, SIGTERM): a registered version is a finished evaluation."""
    versions: list[str] = []
    try:
        yield versions
    except BaseException:
        if versions:  # a second Ctrl-C waits until this is done
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                with contextlib.suppress(Exception):  # the store itself may be what failed
                    promotion.withdraw(tracking.mlflow.MlflowClient(), name, versions)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise


def check_model_files(uri: str) -> None:
    """A models:/ URI whose version, or whose files in a local artifact store, cannot be found, as one
    line (MLflow says `No such artifact: ''`, or a 40-line traceback under `mlflow models serve`)."""
    if not uri.startswith("models:/"):
        return
    client = tracking.mlflow.MlflowClient()
    try:
        name, version = get_model_name_and_version(client, uri)
        location = client.get_model_version_download_uri(name, version)
    except tracking.MlflowException as exc:
        store = redact(tracking.tracking_uri())
        raise PipelineError(f"{uri}: {tracking.first_line(exc, limit=None)} (in the MLflow store {store})") from None
    folder = Path(tracking.local_file_uri_to_path(location))
    if location.startswith("file:") and not folder.is_dir():
        raise PipelineError(
            f"{uri}: version {version}'s files are missing: no folder {folder} (the artifact folder "
            f"{tracking.ARTIFACTS_DIR}/ deleted or moved?): restore it, or train and register a new version "
            "(`dvc repro --force --single-item train evaluate`, then `make promote VERSION=<it>`)"
        )

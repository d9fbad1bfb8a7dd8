"""MLflow for the pipeline: which store, which experiment, and one run per pipeline execution
(train starts it and records its id in an output; evaluate resumes it)."""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import re
import socket
import subprocess
import time
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

import filelock
from pydantic import ConfigDict, Field, ValidationError, create_model
from sqlalchemy.exc import SQLAlchemyError

from imdb_rnn.runtime.errors import PipelineError, describe, os_reason, read_bounded, redact, shorten
from imdb_rnn.runtime.outputs import process_alive, write_text_atomic

# Bounded waits (MLflow's 7 retries and 120 s timeout hung a stage for minutes); a user's own setting wins.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.utils.file_utils import local_file_uri_to_path

# A SQLite store another process holds locked: SQLite itself waits (SQLAlchemy 5 s on connect,
# MLflow's 20 s busy timeout per query); we try a few times more, then say so in one line.
STORE_ATTEMPTS = 3
STORE_RETRY_PAUSE_S = 2.0
_BUSY = re.compile(r"database is (locked|busy)", re.IGNORECASE)
# MLflow's SQL store looks a dataset up, then inserts it: two runs logging the same new dataset at
# once (a queued sweep on a shared server) both insert, and the later one hits the unique key.
_DUPLICATE = re.compile(r"duplicate key|UniqueViolation|UNIQUE constraint failed", re.IGNORECASE)
# SQLite's words for a full disk (SQLAlchemy may report another error first, "Query-invoked autoflush").
_DISK_FULL = re.compile(r"database or disk is full|No space left on device|SQLITE_FULL", re.IGNORECASE)
# MLflow logs the full traceback of every SQLite error before raising it: noise around our one line.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

STORE_FILE = "mlflow.db"
MAX_RUN_FILE_BYTES = 64 << 10  # a run file holds two ids
_RUN_ID = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,255}$"  # MLflow's rule (mlflow.utils.validation)
ARTIFACTS_DIR = "mlartifacts"
EXPERIMENT_COPIES = Path(".dvc", "tmp", "exps")  # where `dvc exp run --queue/--temp` runs stages
PROCESS_TAG = "process"  # host:pid of the process a run is RUNNING in
TRAINING_STAGE = "train"  # the `stage` tag of a training run (run_tags); other stages' runs have a `role`
MODEL_ARTIFACT_DIR = "keras"  # where train logs the Keras model in its run
# What this experiment is; MLflow 3.17's UI ignores the tag (GenAI or model training is the sidebar
# toggle's per-browser choice, or `?workflowType=` in a URL).
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"


def project_root() -> Path:
    """The nearest folder holding dvc.yaml from the working directory up, else the working directory
    (not where the package is installed: each checkout has a store of its own)."""
    here = Path.cwd().resolve()
    return next((folder for folder in (here, *here.parents) if (folder / "dvc.yaml").is_file()), here)


def store_root() -> Path:
    """The repository whose store this run belongs in: a queued (or --temp) DVC experiment runs in a
    throwaway copy under $DVC_ROOT/.dvc/tmp/exps, and its runs go to $DVC_ROOT's store."""
    root, dvc_root = project_root(), os.environ.get("DVC_ROOT")
    if dvc_root and root.is_relative_to(Path(dvc_root).resolve() / EXPERIMENT_COPIES):
        return Path(dvc_root).resolve()
    return root


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI if set, else the project's SQLite store as an absolute URI."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store_root() / STORE_FILE}"


def use_experiment(name: str) -> str:
    """Point MLflow at the store and experiment (created if new), returning its id; one line when the
    store cannot be reached, a few retries while it is locked."""
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    if redact(uri) != uri:  # MLflow prints a run's URL when it ends: not with the password in it
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    try:
        experiment_id = _retried(lambda: _experiment_id(name, uri), _BUSY, pause_s=STORE_RETRY_PAUSE_S)
    except Exception as exc:  # requests/SQLAlchemy errors surface unwrapped from some paths
        raise _store_error(uri, exc) from None
    with contextlib.suppress(MlflowException):  # a user allowed to log but not to end others' runs
        end_killed_runs(experiment_id)
    return experiment_id


def process_tag() -> dict[str, str]:
    return {PROCESS_TAG: f"{socket.gethostname()}:{os.getpid()}"}


def end_killed_runs(experiment_id: str) -> None:
    """Runs left RUNNING by a process of this host that is gone (SIGKILL, the out-of-memory killer:
    nothing unwinds) end as KILLED, and a version one registered (evaluate killed after registering) is
    withdrawn, the alias settled again: the next stage to open the experiment says so."""
    from imdb_rnn.tracking import promotion  # it builds on this module

    client = mlflow.MlflowClient()
    host = socket.gethostname().replace("'", "")
    running = f"attributes.status = 'RUNNING' AND tags.{PROCESS_TAG} LIKE '{host}:%'"
    for found in client.search_runs([experiment_id], filter_string=running, max_results=1000):
        pid = found.data.tags[PROCESS_TAG].rpartition(":")[2]
        if pid.isdigit() and not process_alive(int(pid)):
            client.set_terminated(found.info.run_id, "KILLED")
            for version in client.search_model_versions(f"run_id = '{found.info.run_id}'"):
                promotion.withdraw(client, version.name, [version.version])


def _retried(action, transient: re.Pattern, pause_s: float = 0.0):
    """action(), tried again (STORE_ATTEMPTS in all) while it fails with a message `transient` matches."""
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == STORE_ATTEMPTS or not transient.search(str(exc)):
                raise
            time.sleep(pause_s)


def _experiment_id(name: str, uri: str) -> str:
    # One process at a time opens a local SQLite store (its lock: .gitignore's /mlflow.db-*): two stages starting
    # together (`dvc queue start -j 2`) would both create its tables or the experiment. Later writes wait on
    # SQLite's busy_timeout.
    local, database = uri.startswith("sqlite:"), uri.removeprefix("sqlite:///").split("?")[0]
    with filelock.FileLock(f"{database}-lock", timeout=120) if local else contextlib.nullcontext():
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        # Artifacts of the local store sit beside it, whatever folder a stage runs in.
        location = (store_root() / ARTIFACTS_DIR).as_uri() if local else None
        try:
            return mlflow.create_experiment(name, artifact_location=location, tags={KIND_TAG: KIND})
        except MlflowException as exc:
            # A shared server has no lock of ours: another stage (a sweep's twin) created it first.
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return mlflow.get_experiment_by_name(name).experiment_id


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """MLflow failing inside the block (a store locked, gone or full) as one line; an OSError that MLflow
    did not raise (a stage's own outputs) is left to imdb_rnn.runtime.outputs, which names the output."""
    try:
        yield
    except (MlflowException, SQLAlchemyError) as exc:  # SQLAlchemy's: a locked or damaged SQLite store
        raise _store_error(tracking_uri(), exc) from None
    except OSError as exc:  # a local artifact store that cannot be written
        frames = traceback.walk_tb(exc.__traceback__)
        if not any(f"{os.sep}mlflow{os.sep}" in frame.f_code.co_filename for frame, _ in frames):
            raise
        if not exc.filename:  # the artifact folder of the run the block wrote to (ended by now), else the store's
            run = None
            with contextlib.suppress(Exception):  # the store itself may be what failed
                run = mlflow.active_run() or mlflow.last_active_run()
            exc.filename = local_file_uri_to_path(run.info.artifact_uri) if run else str(store_root() / ARTIFACTS_DIR)
        where = redact(os.fsdecode(exc.filename))
        raise PipelineError(f"MLflow artifact store: cannot write {where}: {os_reason(exc)}") from None


@contextlib.contextmanager
def resumed_run(run_id: str) -> Iterator[mlflow.ActiveRun]:
    """A finished run resumed to add to it, ending with the status it had whatever happens in the block
    (a later stage failing does not make the training run FAILED)."""
    status = mlflow.get_run(run_id).info.status
    # Its process tagged before it is RUNNING again, not after: a sweep twin took it for killed (end_killed_runs).
    mlflow.MlflowClient().set_tag(run_id, PROCESS_TAG, process_tag()[PROCESS_TAG])
    active = mlflow.start_run(run_id=run_id)
    try:
        yield active
    finally:
        mlflow.end_run(status=status)


def check_training_run(run_id: str, experiment_id: str, run_file: Path) -> None:
    """Refuse, in one line, a run that is not a training run of this experiment (tagged stage=train, no
    role, not deleted, holding keras/*.keras): pointed at the baseline's, evaluate once rewrote its test.accuracy."""
    where = f"{run_file}: run {run_id}"
    try:
        found = _retried(lambda: mlflow.get_run(run_id), _BUSY, pause_s=STORE_RETRY_PAUSE_S)
        artifacts = {item.path for item in mlflow.MlflowClient().list_artifacts(run_id, MODEL_ARTIFACT_DIR)}
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise PipelineError(f"{where}: no such run in the MLflow store {redact(tracking_uri())}") from None
        raise _store_error(tracking_uri(), exc) from None
    except OSError as exc:
        raise PipelineError(f"{where}: cannot read its artifacts: {exc.strerror or exc}") from None
    tags = found.data.tags
    if found.info.experiment_id != experiment_id:
        problem = f"is in experiment {found.info.experiment_id}, not mlflow.experiment_name's ({experiment_id})"
    elif found.info.lifecycle_stage == "deleted":
        problem = "was deleted"
    elif tags.get("stage") != TRAINING_STAGE or "role" in tags:
        what = tags.get("role") or tags.get("stage") or "untagged"
        problem = f"is not a training run (its {'role' if 'role' in tags else 'stage'}: {shorten(what)})"
    elif not any(path.endswith(".keras") for path in artifacts):
        problem = f"holds no trained model ({MODEL_ARTIFACT_DIR}/*.keras)"
    else:
        return
    raise PipelineError(f"{where} {problem}: refusing to add to it (run train again, or fix {run_file})")


def _store_error(uri: str, exc: Exception) -> PipelineError:
    if _DISK_FULL.search(f"{exc} {exc.__cause__} {exc.__context__}"):
        return PipelineError(f"MLflow store {redact(uri)} is not usable: disk full (database or disk is full)")
    if isinstance(exc, MlflowException):
        return PipelineError(f"MLflow store {redact(uri)} is not usable: {first_line(exc)}")
    return PipelineError(f"MLflow store {redact(uri)} is not reachable: {type(exc).__name__}: {first_line(exc)}")


def first_line(exc: BaseException, limit: int | None = 300) -> str:
    return redact((str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit])


def git(*args: str) -> str:
    """A git command's output in the project (OSError or CalledProcessError outside git)."""
    return subprocess.run(["git", *args], cwd=project_root(), capture_output=True, text=True, check=True).stdout.strip()


def git_commit() -> tuple[str, bool]:
    """(commit sha, whether the work tree has uncommitted changes); ('unknown', True) outside git."""
    try:
        return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown", True


def run_tags(stage: str) -> dict[str, str]:
    """Tags of a stage's run: the code's commit and, under `dvc exp run`, the experiment's name."""
    commit, dirty = git_commit()
    tags = {"git_commit": commit, "git_dirty": str(dirty).lower(), "stage": stage, **user_tag(), **process_tag()}
    tags.update({name: os.environ[name] for name in ("DVC_EXP_NAME", "DVC_EXP_BASELINE_REV") if name in os.environ})
    return tags


@contextlib.contextmanager
def stage_run(experiment_id: str, stage: str, run_name: str, params: dict) -> Iterator[mlflow.ActiveRun]:
    """A stage's own run (unlabeled, pretrain: tagged role=<stage>) with its params; store failures as one line."""
    tags = {**run_tags(stage), "role": stage}
    with store_errors(), mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as active:
        mlflow.log_params(params)
        yield active


def user_tag() -> dict[str, str]:
    """The run's `mlflow.user`: the local user, not MLflow's MLFLOW_TRACKING_USERNAME (half a credential)."""
    try:
        return {"mlflow.user": getpass.getuser()}
    except (KeyError, OSError):  # no name for this uid, as in some containers
        return {"mlflow.user": "unknown"}


def write_run_reference(path: Path, run: mlflow.ActiveRun) -> None:
    info = {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id}
    write_text_atomic(path, json.dumps(info, indent=2) + "\n")


def read_run_reference(path: Path, key: str = "run_id") -> str:
    """The run id under `key` of a run file (or eval.json's mlflow_run_id), checked: `{"run_id": 5}`
    or `[]` gave TypeError tracebacks."""
    data = read_bounded(Path(path), MAX_RUN_FILE_BYTES, path, "not a run file")
    model = create_model("RunFile", __config__=ConfigDict(strict=True), **{key: (str, Field(pattern=_RUN_ID))})
    try:
        return getattr(model.model_validate_json(data), key)
    except ValidationError as exc:  # not JSON, not an object, no run id, or not a run id
        raise PipelineError(f"{describe(exc, path)} (no MLflow run id to resume)") from None


def log_dataset(features, targets, source: Path, context: str) -> None:
    """Log arrays as a dataset input of the active run; MLflow records their digest."""
    with warnings.catch_warnings(action="ignore", category=UserWarning):  # MLflow: "source ... multiple ways"
        dataset = mlflow.data.from_numpy(features, targets=targets, source=str(source), name=Path(source).stem)
    _retried(lambda: mlflow.log_input(dataset, context=context), _DUPLICATE)  # a retry finds the other run's row


# Not mlflow.keras.MlflowCallback: it swallows store errors (ExceptionSafeClass), logs asynchronously, counts
# epochs from 0 and keeps no durations.
def epoch_metrics():
    """A Keras callback logging each epoch's metrics and duration to the active run (step = epoch,
    counted from 1 like metrics/history.csv); `.seconds` holds the durations."""
    import keras

    class EpochMetrics(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)
            metrics = {name: float(value) for name, value in (logs or {}).items()}
            mlflow.log_metrics({**metrics, "epoch_seconds": self.seconds[-1]}, step=epoch + 1)

    return EpochMetrics()

"""What every stage shares: params validation, one-line errors and atomic writes."""

from __future__ import annotations

import contextlib
import difflib
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml import YAML, YAMLError

PARAMS_FILE = Path("params.yaml")
TRAIN_REVIEWS = 25_000  # reviews in the official train split

# TensorFlow prints a page of start-up chatter on import; a stage's output should be its own.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def quiet_incidental_tensorflow() -> None:
    """Keras imports TensorFlow now and then even on JAX (saving a model, for one), and TensorFlow
    then prints its oneDNN start-up line; its oneDNN kernels never run on JAX, so they are turned off."""
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


class PipelineError(Exception):
    """A problem the user can fix; reported as one line, never a traceback."""


class _Section(BaseModel):
    # strict: a quoted "32" is a mistake to report, not a number to guess;
    # forbid: a misspelt key (train.unit) must not be silently ignored.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FetchParams(_Section):
    url: str = Field(pattern=r"^https?://")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class SplitParams(_Section):
    train_size: int = Field(gt=0)
    val_size: int = Field(gt=0)
    seed: int = Field(ge=0)

    @model_validator(mode="after")
    def _fits_in_train_split(self) -> "SplitParams":
        if self.train_size + self.val_size > TRAIN_REVIEWS:
            raise ValueError(
                f"train_size + val_size = {self.train_size + self.val_size:,} "
                f"exceeds the {TRAIN_REVIEWS:,} training reviews"
            )
        return self


class PadParams(_Section):
    max_features: int = Field(ge=2, description="vocabulary size incl. padding (0) and OOV (1)")
    max_len: int = Field(gt=0)
    padding: Literal["pre", "post"]
    truncating: Literal["pre", "post"]
    ngrams: int = Field(ge=1, le=2, description="1: words; 2: words and the bigrams they end")


class TrainParams(_Section):
    backend: Literal["jax", "tensorflow"]
    cell: Literal["simple_rnn", "lstm", "gru"]
    embedding_dim: int = Field(gt=0)
    embedding_dropout: float = Field(ge=0, lt=1, description="drops whole embedding channels (SpatialDropout1D)")
    units: int = Field(gt=0)
    layers: int = Field(gt=0)
    bidirectional: bool
    dropout: float = Field(ge=0, lt=1)
    recurrent_dropout: float = Field(ge=0, lt=1)
    mask_padding: bool
    pooling: Literal["last", "mean", "max"]
    output_dropout: float = Field(ge=0, lt=1, description="dropout before the output layer")
    optimizer: Literal["rmsprop", "adam", "adamw", "sgd", "nadam"]
    learning_rate: float = Field(gt=0)
    clipnorm: float = Field(ge=0, description="clip each gradient to this norm; 0 = off")
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    early_stopping: int = Field(ge=0, description="patience in epochs on val_loss; 0 = off")
    buckets: int = Field(ge=0, le=64, description="with mask_padding: batches cut to one of this many lengths; 0 = off")
    unlabeled_weight: float = Field(ge=0, le=1, description="loss weight of each teacher-labeled unlabeled review; 0 = unused")
    seed: int = Field(ge=0)
    distribute: Literal["none", "mirrored", "multi_worker"]


class BaselineParams(_Section):
    kind: Literal["tfidf_logreg", "nbsvm"]
    ngram_max: int = Field(ge=1, le=3, description="word n-grams from 1 to this")
    min_df: int = Field(ge=1)
    max_features: int | None = Field(gt=0, description="most frequent n-grams kept; null = all")
    C: float = Field(gt=0, description="inverse regularization strength")
    max_iter: int = Field(gt=0)
    seed: int = Field(ge=0)


class UnlabeledParams(_Section):
    teacher: Literal["none", "nbsvm"] = Field(description="none: nothing to learn | nbsvm: label the unlabeled reviews")
    ngram_max: int = Field(ge=1, le=3, description="the teacher's word n-grams, from 1 to this")
    C: float = Field(gt=0, description="the teacher's inverse regularization strength")
    max_iter: int = Field(gt=0)
    limit: int = Field(ge=0, description="only the first N unlabeled reviews (a quick try, the tests); 0 = all")


class EvaluateParams(_Section):
    batch_size: int = Field(gt=0)
    threshold: float = Field(gt=0, lt=1)


class MlflowParams(_Section):
    experiment_name: str = Field(min_length=1)
    registered_model_name: str = Field(min_length=1)


class Params(_Section):
    fetch: FetchParams
    split: SplitParams
    pad: PadParams
    train: TrainParams
    unlabeled: UnlabeledParams
    evaluate: EvaluateParams
    baseline: BaselineParams
    mlflow: MlflowParams

    @model_validator(mode="after")
    def _unlabeled_reviews_have_labels_to_train_on(self) -> "Params":
        if self.train.unlabeled_weight and self.unlabeled.teacher == "none":
            raise ValueError("train.unlabeled_weight > 0 needs a teacher to label the unlabeled reviews (unlabeled.teacher)")
        return self


def _describe(error: ValidationError, path: Path) -> str:
    """First pydantic error as one line: 'params.yaml: train.units: must be > 0 (got -1)'."""
    errors = error.errors()
    # A misspelt key (train.unit) is also a missing one (train.units): name the typo, and the fix.
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    first = (unknown or errors)[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing" and e["loc"][:-1] == first["loc"][:-1]]
        guess = difflib.get_close_matches(str(first["loc"][-1]), missing, n=1)
        return f"{path}: {key}: unknown key" + (f" (did you mean {guess[0]!r}?)" if guess else "")
    if first["type"] == "missing":
        return f"{path}: {key}: missing"
    message = first["msg"].removeprefix("Value error, ")
    return f"{path}: {key}: {message} (got {first['input']!r})"


def read_params_file(path: Path = PARAMS_FILE) -> dict:
    """params.yaml as plain data, parsed as YAML 1.2 like DVC does (so 1e-3 is a float)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise PipelineError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        raise PipelineError(f"{path}: is empty")
    if not isinstance(data, dict):
        raise PipelineError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def load_params(path: Path = PARAMS_FILE, keys: Sequence[str] | None = None) -> Params:
    """The whole params file, validated: a stage refuses bad params anywhere before it
    reads or writes anything, so no stage's outputs are lost to a later stage's typo.
    With `keys` (a stage's `params:` in dvc.yaml: "train", "mlflow.experiment_name"), only those
    can be read: a stage reading a value DVC does not track for it fails (AttributeError) in the tests."""
    try:
        params = Params.model_validate(read_params_file(path))
    except ValidationError as exc:
        raise PipelineError(_describe(exc, path)) from None
    return params if keys is None else _only(params, keys)


def _only(params: Params, keys: Sequence[str]) -> Params:
    fields: dict[str, dict[str, object] | None] = {}  # section -> its kept fields (None: all of them)
    for key in keys:
        section, _, field = key.partition(".")
        if not field:
            fields[section] = None
        elif fields.get(section, {}) is not None:
            fields.setdefault(section, {})[field] = getattr(getattr(params, section), field)
    return Params.model_construct(**{
        section: getattr(params, section) if kept is None else type(getattr(params, section)).model_construct(**kept)
        for section, kept in fields.items()
    })


def param_values(params: Params, keys: Sequence[str]) -> dict[str, object]:
    """The values behind `keys`, named as `dvc params diff` and MLflow name them: {"train.units": 32}."""
    values: dict[str, object] = {}
    for key in keys:
        section, _, field = key.partition(".")
        if field:
            values[key] = getattr(getattr(params, section), field)
        else:
            values.update({f"{section}.{name}": value for name, value in getattr(params, section).model_dump().items()})
    return values


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """A temp path beside `target` that replaces it only if the block succeeds,
    so a failed or interrupted stage never leaves a half-written file."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would outlive the rename
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that `with` blocks unwind: the MLflow
    run ends as FAILED instead of staying RUNNING, and atomic writes drop their temp files."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def run(main: Callable[[], None]) -> None:
    """Entry point of every stage: a PipelineError becomes one line on stderr and exit 1;
    SIGINT or SIGTERM stops the stage cleanly with exit 130 or 143, as a shell reports them."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        main()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        print(f"error: interrupted by {signum.name}", file=sys.stderr)
        sys.exit(128 + signum)


def main() -> None:
    """`python -m stages.common [params.yaml]`: validate a params file, one line either way."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else PARAMS_FILE
    load_params(path)
    print(f"{path}: ok")


if __name__ == "__main__":
    run(main)

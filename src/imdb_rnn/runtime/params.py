"""params.yaml: its sections as pydantic models, checked before a stage reads or writes anything
(the machine's memory included); `imdb-params [params.yaml]` checks a file in one line."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML, YAMLError

from imdb_rnn.runtime.errors import PipelineError, describe, machine_memory, read_bounded, shorten

PARAMS_FILE = Path("params.yaml")
TRAIN_REVIEWS = 25_000  # reviews in the official train split
# NumPy's (and so Keras' and scikit-learn's) seeds are unsigned 32-bit: a larger one fails mid-run.
MAX_SEED = 2**32 - 1
# A stratified split of the balanced train reviews gives each class half a split, rounded: 2 of each
# keep both classes present (every score needs them) whichever way the halves round.
CLASSES, MIN_PER_CLASS = 2, 2
MIN_SPLIT_SIZE = CLASSES * MIN_PER_CLASS
# A params file or preset is a few KB holding about a hundred values. Bigger is a mistake, or an attack:
# nine levels of YAML aliases (`&a`, `*a`) in 2 KB expand to a billion values, minutes and GBs to walk.
MAX_PARAMS_BYTES = 1 << 20
MAX_PARAMS_VALUES = 10_000


class _Section(BaseModel):
    # strict: a quoted "32" is a mistake to report, not a number to guess;
    # forbid: a misspelt key (train.unit) must not be silently ignored.
    # allow_inf_nan=False: .inf or .nan passes every `gt`/`lt` bound, then ruins the run.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class FetchParams(_Section):
    url: str = Field(pattern=r"^https?://")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    # The official archive holds 12,500; a smaller archive in the same layout (a quick look, the tests) fewer.
    reviews_per_folder: int = Field(12_500, ge=MIN_PER_CLASS, le=12_500)


class SplitParams(_Section):
    train_size: int = Field(ge=MIN_SPLIT_SIZE, description=f"at least {MIN_PER_CLASS} reviews of each class")
    val_size: int = Field(ge=MIN_SPLIT_SIZE, description=f"at least {MIN_PER_CLASS} reviews of each class")
    seed: int = Field(ge=0, le=MAX_SEED)
    group_by: Literal["movie", "none"]  # movie: no movie on both sides, as the official test is drawn

    @model_validator(mode="after")
    def _fits_in_train_split(self) -> SplitParams:
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
    word_dropout: float = Field(ge=0, lt=1, description="drops whole words (their embedding vectors)")
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
    unlabeled_weight: float = Field(ge=0, le=1, description="loss weight of each teacher-labeled review; 0 = unused")
    adversarial: float = Field(ge=0, le=10, description="embedding perturbation, in word-vector lengths; 0 = off")
    seed: int = Field(ge=0, le=MAX_SEED)
    distribute: Literal["none", "mirrored", "multi_worker"]
    # none: random | pretrained: embedding and recurrent layers start from the pretrain stage's |
    # region: its frozen states are extra inputs beside the classifier's embedding
    init: Literal["none", "pretrained", "region"] = "none"


class BaselineParams(_Section):
    kind: Literal["tfidf_logreg", "nbsvm"]
    ngram_max: int = Field(ge=1, le=3, description="word n-grams from 1 to this")
    min_df: int = Field(ge=1)
    max_features: int | None = Field(gt=0, description="most frequent n-grams kept; null = all")
    C: float = Field(gt=0, description="inverse regularization strength")
    max_iter: int = Field(gt=0)
    seed: int = Field(ge=0, le=MAX_SEED)


class UnlabeledParams(_Section):
    teacher: Literal["none", "nbsvm"] = Field(description="none: nothing to learn | nbsvm: label the unlabeled reviews")
    ngram_max: int = Field(ge=1, le=3, description="the teacher's word n-grams, from 1 to this")
    C: float = Field(gt=0, description="the teacher's inverse regularization strength")
    max_iter: int = Field(gt=0)
    limit: int = Field(ge=0, description="only the first N unlabeled reviews (a quick try, the tests); 0 = all")


class PretrainParams(_Section):
    """The pretrain stage (stages.pretrain): Johnson & Zhang 2016's region pretraining (imdb_rnn.models.pretraining)."""

    method: Literal["none", "region"] = Field(
        description="none: nothing, empty outputs | region: bag-of-next-words GRUs"
    )
    embedding_dim: int = Field(gt=0, description="must equal train.embedding_dim for train.init pretrained")
    units: int = Field(gt=0, description="must equal train.units for train.init pretrained")
    window: int = Field(ge=1, le=20, description="words predicted on each side")
    targets: int = Field(ge=2, description="only the most frequent word ids are predicted")
    negatives: int = Field(ge=1, le=4096, description="negative samples shared by a batch")
    chunk: int = Field(ge=4, le=1000, description="terms per chunk a review is cut into, each read from a zero state")
    batch_size: int = Field(gt=0)
    epochs: int = Field(ge=1, le=20)
    learning_rate: float = Field(gt=0, lt=1)
    limit: int = Field(ge=0, description="only the first N train and N unlabeled reviews (the tests); 0 = all")
    seed: int = Field(ge=0, le=MAX_SEED)


class EvaluateParams(_Section):
    batch_size: int = Field(gt=0)
    threshold: float = Field(gt=0, lt=1)


MAX_MODEL_NAME_LENGTH = 256  # the registry's column (mlflow/store/model_registry/dbmodels)
# mlflow.utils.validation.MAX_EXPERIMENT_NAME_LENGTH, copied so that checking params does not import
# MLflow (a test compares): a longer name passed the check, then failed in train after DVC removed its outputs.
MAX_EXPERIMENT_NAME_LENGTH = 500


def registered_model_name_problem(name: str) -> str | None:
    """Why MLflow's registry would refuse `name`, or None: mlflow.utils.validation._validate_model_name's rule,
    copied so that checking params does not import MLflow (a test compares the two)."""
    if not name.strip():
        return "must not be blank"
    if "/" in name or ":" in name:
        return "MLflow model names cannot contain '/' or ':'"
    normal = posixpath.normpath(name)
    if normal != name or normal == "." or normal.startswith(".."):
        return f"MLflow refuses model names that read as another path ({shorten(normal)})"
    if len(name) > MAX_MODEL_NAME_LENGTH:
        return f"MLflow model names are at most {MAX_MODEL_NAME_LENGTH} characters"
    return None


class MlflowParams(_Section):
    experiment_name: str = Field(min_length=1, max_length=MAX_EXPERIMENT_NAME_LENGTH)
    registered_model_name: str = Field(min_length=1)
    # evaluate moves the registry's `champion` alias: best_val, only to a version better on validation
    # (strictly: ties keep the champion) | always | never (imdb_rnn.tracking.promotion)
    promote: Literal["best_val", "always", "never"] = "best_val"

    @field_validator("registered_model_name")
    @classmethod
    def _registrable(cls, name: str) -> str:
        if problem := registered_model_name_problem(name):
            raise ValueError(problem)
        return name


RNN_GATES = {"simple_rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per recurrent cell
FLOAT_BYTES, ID_BYTES = 4, 4  # float32 weights and activations, int32 token ids


def memory_estimate(params: Params) -> dict[str, dict[str, int]]:
    """Bytes each stage needs at its peak, roughly, by part: deliberately simple, it only has to catch
    settings off by orders of magnitude. What each part counts: docs/guarantees.md, "Bad params are refused"."""
    pad, train, split = params.pad, params.train, params.split
    directions = 2 if train.bidirectional else 1
    gates = RNN_GATES[train.cell]
    weights, width = pad.max_features * train.embedding_dim, train.embedding_dim
    for _ in range(train.layers):
        weights += directions * gates * train.units * (width + train.units + 1)
        width = directions * train.units
    weights += width + 1  # the output layer
    outputs = pad.max_len * (train.embedding_dim + train.layers * directions * train.units * gates)
    per_folder = params.fetch.reviews_per_folder
    test = 2 * per_folder
    unlabeled = 0 if params.unlabeled.teacher == "none" else params.unlabeled.limit or 4 * per_folder
    trained = split.train_size + split.val_size + (split.train_size + 2 * unlabeled if train.unlabeled_weight else 0)
    row, weights, batch = pad.max_len * ID_BYTES, weights * FLOAT_BYTES, outputs * FLOAT_BYTES  # bytes
    return {
        "pad": {"data": max(split.train_size, split.val_size, test) * row},
        "unlabeled": {"data": unlabeled * row},
        "train": {"data": trained * row, "weights": 4 * weights, "activations": 2 * train.batch_size * batch},
        "evaluate": {"data": test * row, "weights": weights, "activations": params.evaluate.batch_size * batch},
    }


class Params(_Section):
    fetch: FetchParams
    split: SplitParams
    pad: PadParams
    train: TrainParams
    unlabeled: UnlabeledParams
    pretrain: PretrainParams
    evaluate: EvaluateParams
    baseline: BaselineParams
    mlflow: MlflowParams

    @model_validator(mode="after")
    def _combinations_that_work(self) -> Params:
        """Combinations that would fail in a later stage, or run but not as named; then the memory they need."""
        train, pretrain, init = self.train, self.pretrain, self.train.init
        if train.unlabeled_weight and self.unlabeled.teacher == "none":
            raise ValueError(
                "train.unlabeled_weight > 0 needs a teacher to label the unlabeled reviews (unlabeled.teacher)"
            )
        if init != "none" and pretrain.method == "none":
            raise ValueError(f"train.init {init} needs a pretrain stage that trains something (pretrain.method)")
        if init != "none" and (train.cell, train.layers, train.bidirectional, train.backend) != ("gru", 1, True, "jax"):
            raise ValueError(
                f"train.init {init} takes a one-layer bidirectional GRU on jax (got train.cell {train.cell}, "
                f"train.layers {train.layers}, train.bidirectional {train.bidirectional}, "
                f"train.backend {train.backend})"
            )
        if init != "none" and (pretrain.embedding_dim, pretrain.units) != (train.embedding_dim, train.units):
            raise ValueError(
                f"train.init {init}: pretrain.embedding_dim/units {pretrain.embedding_dim}/{pretrain.units} "
                f"must equal train.embedding_dim/units {train.embedding_dim}/{train.units}"
            )
        if init == "region" and (train.adversarial or train.distribute != "none"):
            raise ValueError("train.init region trains with train.adversarial 0 and train.distribute none")
        if self.baseline.min_df > self.split.train_size:  # the rest is known once the reviews are read
            raise ValueError(
                f"baseline.min_df {self.baseline.min_df:,} exceeds split.train_size {self.split.train_size:,}: "
                "an n-gram must occur in at least min_df of the training reviews"
            )
        if train.adversarial and (train.backend != "jax" or train.distribute != "none"):
            raise ValueError(
                f"train.adversarial > 0 runs on train.backend jax with train.distribute none "
                f"(got {train.backend}, {train.distribute})"
            )
        if pretrain.method != "none" and self.unlabeled.teacher == "none":
            raise ValueError(
                f"pretrain.method {pretrain.method} learns from the unlabeled reviews, which the unlabeled stage "
                "prepares only with an unlabeled.teacher (with none it would pretrain on the train split alone)"
            )
        if (self.pad.padding, train.pooling, train.mask_padding) == ("post", "last", False):
            raise ValueError(
                "pad.padding post with train.pooling last and train.mask_padding false: the last state would be "
                "the padding's; set train.mask_padding true or pad.padding pre"
            )
        # What a stage cannot fit in this machine's memory is refused now, not hours (or a swap storm) later.
        stage, parts = max(memory_estimate(self).items(), key=lambda item: sum(item[1].values()))
        available = machine_memory()
        if sum(parts.values()) > available:
            gib = 1 << 30
            detail = ", ".join(f"{name} {size / gib:,.1f}" for name, size in parts.items())
            batch = "evaluate" if stage == "evaluate" else "train"  # whose batch_size counts
            raise ValueError(
                f"pad.max_len {self.pad.max_len:,}, pad.max_features {self.pad.max_features:,}, "
                f"train.units {self.train.units:,}, {batch}.batch_size {getattr(self, batch).batch_size:,}: "
                f"the {stage} stage needs about {sum(parts.values()) / gib:,.0f} GiB ({detail}), "
                f"more than this machine's {available / gib:,.0f} GiB"
            )
        return self


def read_params_file(path: Path = PARAMS_FILE) -> dict:
    """params.yaml as plain data, parsed as YAML 1.2 like DVC does (so 1e-3 is a float); a file over
    MAX_PARAMS_BYTES, or whose aliases expand to over MAX_PARAMS_VALUES values, is refused before anything walks it."""
    raw = read_bounded(Path(path), MAX_PARAMS_BYTES, path, "not a params file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path}: not valid UTF-8 (byte {raw[exc.start]:#04x} at offset {exc.start})") from None
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise PipelineError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:  # the parser recurses per level: 500 levels gave a 3,000-line traceback
        raise PipelineError(f"{path}: nested too deep: not a params file") from None
    if data is None:
        raise PipelineError(f"{path}: is empty")
    # Every alias expanded (a shared list counts each time it is used), counted only up to just past the
    # limit: the time taken is bounded however far the aliases expand.
    count, todo = 0, [data]
    while todo and count <= MAX_PARAMS_VALUES:
        item = todo.pop()
        count += 1
        if isinstance(item, dict):
            todo += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set):
            todo += item
    if count > MAX_PARAMS_VALUES:
        raise PipelineError(
            f"{path}: its YAML aliases (*name) expand to more than {MAX_PARAMS_VALUES:,} values: not a params file"
        )
    if not isinstance(data, dict):
        raise PipelineError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def load_params(path: Path = PARAMS_FILE, keys: Sequence[str] | None = None) -> Params:
    """The whole params file, validated: a stage refuses bad params anywhere before it reads or writes
    anything. With `keys` (a stage's `params:` in dvc.yaml: "train", "mlflow.experiment_name"), only those
    can be read: a stage reading a value DVC does not track for it fails (AttributeError) in the tests."""
    params = validate(read_params_file(path), path)
    if keys is None:
        return params
    sections: dict[str, dict[str, object]] = {}
    for key, value in param_values(params, keys).items():
        section, _, field = key.partition(".")
        sections.setdefault(section, {})[field] = value
    return Params.model_construct(
        **{section: type(getattr(params, section)).model_construct(**kept) for section, kept in sections.items()}
    )


def validate(data: dict, source: object) -> Params:
    """`data` as Params, or one line naming `source` (the file it comes from) and the key."""
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise PipelineError(describe(exc, source)) from None


def param_values(params: Params, keys: Sequence[str]) -> dict[str, object]:
    """The values behind `keys`, named as `dvc params diff` and MLflow name them: {"train.units": 32}."""
    values: dict[str, object] = {}
    for key in keys:
        section, _, field = key.partition(".")
        part = getattr(params, section)
        values |= {f"{section}.{name}": getattr(part, name) for name in ([field] if field else type(part).model_fields)}
    return values

"""imdb_rnn.runtime.params: params.yaml's sections and their checks, and `imdb-params`."""

from __future__ import annotations

import io
import shutil

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.params import ID_BYTES, TrainParams, load_params
from tests.helpers import DEFAULT_PARAMS, DEFAULT_PARAMS_TEXT, ROOT, default_params_file, edit_params, sh

DEFAULT_TRAIN = DEFAULT_PARAMS.train


def test_train_params_are_frozen():
    with pytest.raises(ValidationError):
        DEFAULT_TRAIN.units = 3
    assert isinstance(DEFAULT_TRAIN, TrainParams)


def _without(*keys: str):
    """An edit deleting params[keys[0]][keys[1]]... from the text, comments and all else kept."""

    def edit(text: str) -> str:
        yaml = YAML()
        params = yaml.load(text)
        parent = params
        for key in keys[:-1]:
            parent = parent[key]
        del parent[keys[-1]]
        out = io.StringIO()
        yaml.dump(params, out)
        return out.getvalue()

    return edit


def refusal(params) -> str:
    """The one-line message load_params refuses `params` with."""
    with pytest.raises(PipelineError) as refused:
        load_params(params)
    message = str(refused.value)
    assert "\n" not in message
    return message


BAD_EDITS = [
    ({"train": {"units": 0}}, "train.units"),
    ({"train": {"units": -3}}, "train.units"),
    ({"train": {"units": "32"}}, "train.units"),
    ({"train": {"epochs": 1.5}}, "train.epochs"),
    ({"train": {"cell": "transformer"}}, "train.cell"),
    ({"train": {"unit": 32}}, "train.unit"),
    ({"train": {"bidirectional": "yes"}}, "train.bidirectional"),
    ({"train": {"dropout": 1.0}}, "train.dropout"),
    ({"train": {"learning_rate": 0}}, "train.learning_rate"),
    ({"train": {"optimizer": "adagrad2"}}, "train.optimizer"),
    ({"split": {"train_size": 20000, "val_size": 6000}}, "split"),
    ({"split": {"val_size": 0}}, "split.val_size"),
    ({"pad": {"max_features": 1}}, "pad.max_features"),
    ({"pad": {"padding": "middle"}}, "pad.padding"),
    ({"fetch": {"sha256": "abc"}}, "fetch.sha256"),
    ({"evaluate": {"threshold": 1.5}}, "evaluate.threshold"),
    ({"train": {"pooling": "attention"}}, "train.pooling"),
    ({"train": {"distribute": "tpu"}}, "train.distribute"),
    ({"baseline": {"ngram_max": 0}}, "baseline.ngram_max"),
    ({"baseline": {"C": 0}}, "baseline.C"),
    ({"extra_section": {"a": 1}}, "extra_section"),
    ({"train": {"layers": 0}}, "train.layers"),
    ({"train": {"batch_size": None}}, "train.batch_size"),
    ({"train": {"learning_rate": "1e-3"}}, "train.learning_rate"),
    ({"train": {"recurrent_dropout": -0.1}}, "train.recurrent_dropout"),
    ({"train": {"early_stopping": -1}}, "train.early_stopping"),
    ({"train": {"backend": "torch"}}, "train.backend"),
    ({"train": 32}, "train"),
    ({"split": {"train_size": 30000, "val_size": 100}}, "split"),
    ({"split": {"seed": -1}}, "split.seed"),
    ({"pad": {"max_len": 0}}, "pad.max_len"),
    ({"pad": {"max_features": 5000.0}}, "pad.max_features"),
    ({"fetch": {"url": "ftp://example.com/a.tar.gz"}}, "fetch.url"),
    ({"evaluate": {"batch_size": True}}, "evaluate.batch_size"),
    ({"mlflow": {"experiment_name": ""}}, "mlflow.experiment_name"),
    ({"pad": {"ngrams": 3}}, "pad.ngrams"),
    ({"pad": {"ngrams": True}}, "pad.ngrams"),
    ({"train": {"embedding_dropout": 1.0}}, "train.embedding_dropout"),
    ({"train": {"output_dropout": -0.5}}, "train.output_dropout"),
    ({"train": {"clipnorm": -1}}, "train.clipnorm"),
    ({"train": {"adversarial": -0.1}}, "train.adversarial"),
    ({"train": {"adversarial": 0.3, "backend": "tensorflow"}}, "train.adversarial"),
    ({"train": {"adversarial": 0.3, "distribute": "mirrored"}}, "train.adversarial"),
    # Values that passed validation, then failed mid-run (issue 14): refused up front now.
    ({"train": {"learning_rate": float("inf")}}, "train.learning_rate"),
    ({"train": {"learning_rate": float("nan")}}, "train.learning_rate"),
    ({"evaluate": {"threshold": float("nan")}}, "evaluate.threshold"),
    ({"split": {"seed": 2**32}}, "split.seed"),
    ({"train": {"seed": 2**32}}, "train.seed"),
    ({"baseline": {"seed": 2**40}}, "baseline.seed"),
    ({"split": {"train_size": 24999, "val_size": 1}}, "split.val_size"),
    ({"split": {"train_size": 3, "val_size": 5000}}, "split.train_size"),
    ({"mlflow": {"registered_model_name": "team/imdb-rnn"}}, "mlflow.registered_model_name"),
    ({"mlflow": {"registered_model_name": "imdb:rnn"}}, "mlflow.registered_model_name"),
    ({"mlflow": {"registered_model_name": "../imdb"}}, "mlflow.registered_model_name"),
    ({"mlflow": {"registered_model_name": "  "}}, "mlflow.registered_model_name"),
    # "ok", then a 39-line scikit-learn traceback in the baseline stage (issue 30)
    ({"baseline": {"min_df": 30_000}}, "baseline.min_df 30,000 exceeds split.train_size 20,000"),
    ({"split": {"group_by": "title"}}, "split.group_by"),
    # Issue 29: combinations that ran, but not as named.
    ({"pretrain": {"method": "region"}}, "pretrain.method region learns from the unlabeled reviews"),
    ({"pad": {"padding": "post"}}, "pad.padding post with train.pooling last and train.mask_padding false"),
]


BAD_TEXTS = [
    (
        "misspelt key",
        lambda text: text.replace("  units:", "  unit:"),
        "train.unit: unknown key (did you mean 'units'?)",
    ),
    (
        "misspelt section",
        lambda text: text.replace("evaluate:", "evaluate_:"),
        "evaluate_: unknown key (did you mean 'evaluate'?)",
    ),
    ("missing section", _without("evaluate"), "params.yaml: evaluate: missing"),
    ("missing key", _without("split", "seed"), "params.yaml: split.seed: missing"),
    ("broken YAML", lambda text: text + "train: [units: 3\n", "not valid YAML at line"),
    ("duplicate key", lambda text: text.replace("  units:", "  units: 8\n  units:"), 'duplicate key "units"'),
    ("tab indentation", lambda text: text.replace("  units:", "\tunits:"), "not valid YAML at line"),
    ("empty file", lambda text: "", "params.yaml: is empty"),
    ("a list, not a mapping", lambda text: "- train\n- pad\n", "expected a mapping of sections, got list"),
    # a 3,000-line RecursionError before (issue 30)
    ("nested 500 deep", lambda text: text + "deep: " + "[" * 500 + "]" * 500 + "\n", "nested too deep"),
]


USER_FILES = ("data", "models", "metrics")


REPRO_CASES = [
    ({"train": {"units": 0}}, "params.yaml: train.units: Input should be greater than 0 (got 0)"),
    (
        {"split": {"train_size": 24000}},
        "params.yaml: split: train_size + val_size = 29,000 exceeds the 25,000 training reviews",
    ),
    ({"pad": {"max_lenght": 64}}, "params.yaml: pad.max_lenght: unknown key"),
]


@pytest.mark.parametrize(
    "name",
    [
        "imdb-sentiment-rnn",
        "team/imdb-rnn",
        "a:b",
        "../x",
        "x/..",
        "./x",
        "x//y",
        ".",
        "..",
        " ",
        "",
        "/abs",
        "x" * 256,
        "x" * 257,
        "Ünïcödé model",
        "a.b",
        "...x",
    ],
)
def test_registered_model_names_are_checked_by_mlflows_own_rule(name):
    """The params check agrees with the registry's (mlflow.utils.validation), name for name:
    `team/imdb-rnn` once passed validation, then failed in evaluate after it wrote the metrics."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_model_name

    from imdb_rnn.runtime.params import MAX_MODEL_NAME_LENGTH, registered_model_name_problem

    try:
        _validate_model_name(name)
        mlflow_refuses = len(name) > MAX_MODEL_NAME_LENGTH  # the registry's column; a store refuses it
    except MlflowException:
        mlflow_refuses = True
    assert (registered_model_name_problem(name) is not None) == mlflow_refuses


@pytest.mark.parametrize(
    "edit",
    [
        {"pad": {"max_len": 10_000_000}},
        {"train": {"units": 100_000}},
        {"pad": {"max_features": 10**9}},
        {"train": {"batch_size": 10**7, "cell": "lstm"}},
    ],
)
def test_settings_that_cannot_fit_in_memory_are_refused_before_training(tmp_path, edit):
    params = default_params_file(tmp_path)
    edit_params(params, edit)
    message = refusal(params)
    ((section, values),) = edit.items()
    assert message.startswith(f"{params}: pad.max_len") and "GiB" in message and "more than this machine's" in message
    assert all(f"{section}.{key} {value:,}" in message for key, value in values.items() if key != "cell")


def test_the_estimate_counts_the_reviews_each_stage_holds(tmp_path):
    """pad.max_len 100,000 passed ("ok"), then pad ran out of memory: the estimate counted 50,000 padded
    reviews for the whole pipeline, while train with unlabeled_weight holds 145,000 (issue 30)."""
    from imdb_rnn.runtime.params import machine_memory

    max_len = machine_memory() // (ID_BYTES * 100_000)  # 100,000 padded reviews fill this machine
    params = default_params_file(tmp_path)
    edit_params(params, {"pad": {"max_len": max_len}, "unlabeled": {"teacher": "nbsvm"}})
    assert load_params(params)  # every stage holds at most 25,000 of them (evaluate: one batch's outputs too)
    edit_params(params, {"train": {"unlabeled_weight": 0.5}})
    message = refusal(params)
    assert message.startswith(f"{params}: pad.max_len {max_len:,}") and "the train stage needs about" in message


@pytest.mark.parametrize("preset", sorted(path.name for path in (ROOT / "presets").glob("*.yaml")))
def test_every_preset_fits_in_memory_with_room_to_spare(tmp_path, preset):
    from imdb_rnn.cli.preset import apply_preset
    from imdb_rnn.runtime.params import machine_memory, memory_estimate

    params = default_params_file(tmp_path)
    apply_preset(ROOT / "presets" / preset, params)
    loaded = load_params(params)
    assert max(sum(parts.values()) for parts in memory_estimate(loaded).values()) < machine_memory() / 8


def test_the_smallest_allowed_split_holds_both_classes():
    """Why MIN_SPLIT_SIZE: a stratified split of the balanced train reviews gives each class half of
    a split, so 2 x MIN_PER_CLASS reviews hold MIN_PER_CLASS of each; one review fails in the stage."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    from imdb_rnn.runtime.params import CLASSES, MIN_PER_CLASS, MIN_SPLIT_SIZE, TRAIN_REVIEWS

    labels = np.repeat([0, 1], TRAIN_REVIEWS // CLASSES)
    for seed in range(5):
        train, val = train_test_split(
            labels,
            train_size=TRAIN_REVIEWS - MIN_SPLIT_SIZE,
            test_size=MIN_SPLIT_SIZE,
            stratify=labels,
            random_state=seed,
        )
        assert np.bincount(val, minlength=CLASSES).min() >= MIN_PER_CLASS
        assert np.bincount(train, minlength=CLASSES).min() >= MIN_PER_CLASS
    with pytest.raises(ValueError):  # what split.val_size: 1 did in the split stage before
        train_test_split(labels, train_size=TRAIN_REVIEWS - 1, test_size=1, stratify=labels, random_state=0)


@pytest.mark.parametrize("edit, key", BAD_EDITS, ids=[key + "=" + repr(edit) for edit, key in BAD_EDITS])
def test_bad_param_is_one_line_naming_the_key(tmp_path, edit, key):
    params = default_params_file(tmp_path)
    edit_params(params, edit)
    assert f"params.yaml: {key}" in refusal(params)


@pytest.mark.parametrize("edit, message", [row[1:] for row in BAD_TEXTS], ids=[row[0] for row in BAD_TEXTS])
def test_bad_params_text_is_one_line_saying_what_is_wrong(tmp_path, edit, message):
    params = tmp_path / "params.yaml"
    params.write_text(edit(DEFAULT_PARAMS_TEXT))
    assert message in refusal(params)


def test_the_check_command_says_ok_or_one_line_and_exit_1(tmp_path):
    default_params_file(tmp_path)
    assert sh(["imdb-params"], tmp_path).stdout.strip() == "params.yaml: ok"
    params = tmp_path / "params.yaml"
    edit_params(params, {"train": {"units": 0}})
    result = sh(["imdb-params", str(params)], ROOT, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == f"error: {params}: train.units: Input should be greater than 0 (got 0)\n"


def alias_bomb(levels: int = 9) -> str:
    """params.yaml with train.units a YAML alias bomb: 10 ** levels values in about 500 bytes."""
    bomb = "\n    a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]" + "".join(
        f"\n    a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]" for level in range(1, levels + 1)
    )
    text = DEFAULT_PARAMS_TEXT
    start = text.index("\n  units:") + len("\n  units:")
    return text[:start] + bomb + text[text.index("\n", start) :]


def test_a_yaml_alias_bomb_is_refused_at_once_by_every_reader(tmp_path):
    """Nine levels of aliases under train.units ran imdb-params for minutes past 2.8 GB (the message
    rendered the value in full); now every reader of a params file refuses it in under 2 s and 200 MB."""
    import sys
    import time

    params = tmp_path / "params.yaml"
    params.write_text(alias_bomb())
    started = time.perf_counter()
    assert "YAML aliases (*name) expand to more than 10,000 values" in refusal(params)
    assert time.perf_counter() - started < 2
    shutil.copy(default_params_file(tmp_path / "defaults"), tmp_path / "ok.yaml")
    for command in (["imdb-params", str(params)], ["imdb-preset", str(params), str(tmp_path / "ok.yaml")]):
        # The command's own peak memory, measured by a parent of its own (KB on Linux).
        measured = (
            "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
        )
        result = sh([sys.executable, "-c", measured, *command], ROOT, check=False, timeout=20)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert "expand to more than 10,000 values" in result.stderr
        assert int(result.stdout) < 200 * 1024
    assert (tmp_path / "ok.yaml").read_text() == DEFAULT_PARAMS_TEXT


@pytest.mark.parametrize(
    "edit",
    [
        {"train": {"cell": "x" * 1_000_000}},
        {"train": {"units": list(range(5_000))}},
        {"mlflow": {"registered_model_name": "a/" * 100_000}},
    ],
    ids=["long-string", "long-list", "long-name"],
)
def test_a_bad_value_is_rendered_shortened_in_its_message(tmp_path, edit):
    """A six-level alias bomb once gave a 4.3 MB "one-line" error: every value a message renders
    goes through errors.shorten."""
    params = default_params_file(tmp_path)
    edit_params(params, edit)
    message = refusal(params)
    ((section, values),) = edit.items()
    assert message.startswith(f"{params}: {section}.{next(iter(values))}: ") and len(message) < 400, message[:500]


def test_experiment_names_over_mlflows_limit_are_refused_naming_the_key(tmp_path):
    """A 501-character name passed the check, then failed in train (after DVC removed its outputs)
    blaming the store."""
    from mlflow.utils import validation

    from imdb_rnn.runtime.params import MAX_EXPERIMENT_NAME_LENGTH

    assert MAX_EXPERIMENT_NAME_LENGTH == validation.MAX_EXPERIMENT_NAME_LENGTH
    params = default_params_file(tmp_path)
    edit_params(params, {"mlflow": {"experiment_name": "x" * MAX_EXPERIMENT_NAME_LENGTH}})
    assert load_params(params).mlflow.experiment_name
    edit_params(params, {"mlflow": {"experiment_name": "x" * (MAX_EXPERIMENT_NAME_LENGTH + 1)}})
    message = refusal(params)
    assert message.startswith(f"{params}: mlflow.experiment_name: String should have at most 500 characters")

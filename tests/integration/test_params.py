"""Bad params are refused in one line naming the key, before anything is read or written."""

from __future__ import annotations

import hashlib
import io

import pytest
from mlflow import MlflowClient
from ruamel.yaml import YAML

from tests.helpers import BIN, ROOT, edit_params, sh

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
]


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


# Edits of the text itself: what a hand edit can break beyond one value.
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
]


# --- The same refusals through the user's own commands, in a copy of a reproduced project ---

USER_FILES = ("data", "models", "metrics")


def snapshot(project) -> dict[str, object]:
    """Every file the user has in data/, models/, metrics/ with its sha256, and the MLflow runs."""
    files = {
        str(path.relative_to(project)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in USER_FILES
        for path in sorted((project / folder).rglob("*"))
        if path.is_file()
    }
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sentiment")
    runs = client.search_runs([experiment.experiment_id])
    files["mlflow runs"] = sorted(
        (run.info.run_id, run.info.status, tuple(sorted(run.data.metrics.items()))) for run in runs
    )
    return files


def make_repro(project):
    """`make repro` as the README says, with the project's Makefile and the test's environment."""
    return sh(["make", "-s", "-f", str(ROOT / "Makefile"), "-o", "setup", "repro", f"BIN={BIN}"], project, check=False)


# A bad value for the last stage, one for the first stage DVC would re-run, and a misspelt key.
REPRO_CASES = [
    ({"train": {"units": 0}}, "params.yaml: train.units: Input should be greater than 0 (got 0)"),
    (
        {"split": {"train_size": 24000}},
        "params.yaml: split: train_size + val_size = 29,000 exceeds the 25,000 training reviews",
    ),
    ({"pad": {"max_lenght": 64}}, "params.yaml: pad.max_lenght: unknown key"),
]


@pytest.mark.parametrize("edit, line", REPRO_CASES, ids=[line.split(":")[1].strip() for _, line in REPRO_CASES])
def test_bad_params_leave_the_users_work_intact_or_restorable(clone, real_archive, edit, line):
    project = clone(keep_mlflow=True)
    before = snapshot(project)
    edit_params(project / "params.yaml", edit)

    # `make repro` checks params before DVC touches anything: nothing changes at all.
    result = make_repro(project)
    assert result.returncode != 0
    errors = [text for text in result.stderr.splitlines() if text.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {line}"), result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(project) == before

    # Plain `dvc repro`: the failing stage refuses in the same one line. DVC has removed that
    # stage's outputs before running it; they are in its cache, and `dvc checkout` restores them.
    result = sh(["dvc", "repro"], project, check=False, IMDB_ARCHIVE=str(real_archive))
    assert result.returncode != 0
    assert f"error: {line}" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert snapshot(project) != before  # DVC removed the failing stage's outputs
    sh(["git", "checkout", "params.yaml"], project)
    sh(["dvc", "checkout"], project)
    assert snapshot(project) == before
    assert "up to date" in sh(["dvc", "status"], project).stdout

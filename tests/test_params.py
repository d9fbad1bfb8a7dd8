"""Bad params are refused in one line naming the key, before anything is read or written."""

from __future__ import annotations

import shutil

import pytest

from conftest import ROOT, edit_params, sh

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
]


@pytest.mark.parametrize("edit, key", BAD_EDITS, ids=[key + "=" + repr(edit) for edit, key in BAD_EDITS])
def test_bad_param_is_one_line_naming_the_key(tmp_path, edit, key):
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    edit_params(params, edit)
    result = sh(["python", "-m", "stages.common", str(params)], ROOT, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f": {key}" in lines[0] and "Traceback" not in result.stderr


def test_missing_section_and_broken_yaml(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text().replace("evaluate:", "evaluate_:"))
    result = sh(["python", "-m", "stages.common", str(params)], ROOT, check=False)
    assert result.returncode == 1 and "evaluate" in result.stderr

    params.write_text("train: [units: 3\n")
    result = sh(["python", "-m", "stages.common", str(params)], ROOT, check=False)
    assert result.returncode == 1 and "not valid YAML" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_default_params_are_valid():
    assert sh(["python", "-m", "stages.common"], ROOT).stdout.strip() == "params.yaml: ok"

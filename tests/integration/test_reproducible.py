"""Bit-for-bit reproducibility: `dvc repro -f` on the same machine gives the same bytes again."""

from __future__ import annotations

import io
import json
import zipfile

import h5py
import numpy as np
from ruamel.yaml import YAML

from tests.helpers import sh

# Outputs that record when or in which MLflow run they were made, so differ by design:
# the .keras zip holds its save date (its weights are compared below), mlflow_run.json and
# eval.json name the run, train.json holds the training time.
NAMES_THE_RUN = {"models/model.keras", "models/mlflow_run.json", "metrics/eval.json", "metrics/train.json"}


def output_hashes(project) -> dict[str, str]:
    """Every output's md5 as dvc.lock records it (a folder's is the hash of its file list)."""
    lock = YAML(typ="safe").load((project / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def weights(model_path) -> dict[str, bytes]:
    """The raw bytes of every weight array in a .keras file (a zip holding model.weights.h5)."""
    with zipfile.ZipFile(model_path) as archive:
        h5_bytes = archive.read("model.weights.h5")
    arrays: dict[str, bytes] = {}
    with h5py.File(io.BytesIO(h5_bytes), "r") as h5:
        h5.visititems(
            lambda name, item: (
                arrays.update({name: np.asarray(item).tobytes()}) if isinstance(item, h5py.Dataset) else None
            )
        )
    return arrays


def test_forced_repro_gives_the_same_bytes_again(reproduced, clone, real_archive):
    """Train and evaluate forced to run again, with the default backend, give the same bytes.
    (fetch, split and pad are sorted and seeded; forcing them too would add a minute.)"""
    project = clone()
    result = sh(
        ["dvc", "repro", "--force", "--single-item", "train", "evaluate"], project, IMDB_ARCHIVE=str(real_archive)
    )
    assert "Running stage 'train'" in result.stdout and "Running stage 'evaluate'" in result.stdout

    first, second = output_hashes(reproduced), output_hashes(project)
    assert set(first) == set(second) and set(first) > NAMES_THE_RUN
    assert {path: first[path] for path in first if path not in NAMES_THE_RUN} == {
        path: second[path] for path in second if path not in NAMES_THE_RUN
    }
    for path in ("metrics/history.csv", "metrics/confusion.csv", "metrics/roc.csv"):
        assert (project / path).read_bytes() == (reproduced / path).read_bytes(), path

    report = {
        name: json.loads((folder / "metrics/eval.json").read_text())
        for name, folder in (("first", reproduced), ("second", project))
    }
    assert report["first"].pop("mlflow_run_id") != report["second"].pop("mlflow_run_id")
    assert report["first"] == report["second"]

    first_weights, second_weights = weights(reproduced / "models/model.keras"), weights(project / "models/model.keras")
    assert len(first_weights) >= 5 and first_weights == second_weights

"""JAX is the default backend (the fast one, see benchmarks/); TensorFlow stays supported through the real stages."""

from __future__ import annotations

import json

from mlflow import MlflowClient

from tests.helpers import DEFAULT_PARAMS, SMALL_PER_FOLDER, sh


def test_default_backend_is_jax():
    # `make repro` gets the speed-up without a flag: benchmarks/README.md measures it.
    assert DEFAULT_PARAMS.train.backend == "jax"


def test_tensorflow_backend_trains_over_two_cpu_devices_and_evaluates(clone, real_archive):
    # Mirrored over two CPU devices too (one TensorFlow training for both; JAX's: test_pipeline).
    project = clone({"train": {"backend": "tensorflow", "distribute": "mirrored"}})
    result = sh(["dvc", "repro"], project, IMDB_ARCHIVE=str(real_archive), TRAIN_CPU_DEVICES="2")
    assert "Running stage 'train'" in result.stdout and "Running stage 'evaluate'" in result.stdout
    assert "Running stage 'pad'" not in result.stdout  # a backend change re-runs train and evaluate only
    summary = json.loads((project / "metrics/train.json").read_text())
    assert summary["replicas"] == 2 and summary["val_accuracy"] > 0.6

    report = json.loads((project / "metrics/eval.json").read_text())
    assert 0.6 < report["test"]["accuracy"] <= 1 and 0.6 < report["val"]["roc_auc"] <= 1
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    run = client.get_run(report["mlflow_run_id"])
    assert run.data.params["train.backend"] == "tensorflow"
    assert run.data.metrics["test.accuracy"] == report["test"]["accuracy"]
    # evaluate (also on tensorflow) read back the model that train saved with tensorflow
    rows = (project / "metrics/confusion.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * SMALL_PER_FOLDER  # a header, then one row per test review

"""imdb_rnn.tracking.registry.check_model_files: a registered model that cannot be loaded, said in one
line naming what is missing, in a real MLflow store (SQLite, in a temp folder)."""

from __future__ import annotations

import shutil

import mlflow
import pytest

from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.tracking import registry
from imdb_rnn.tracking import store as tracking
from tests.helpers import empty_store


def test_a_model_whose_artifact_folder_is_gone_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", empty_store(tmp_path))
    monkeypatch.chdir(tmp_path)
    experiment = tracking.use_experiment("e")
    client = mlflow.MlflowClient()
    client.create_registered_model("m")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_text("a model", "model/MLmodel")
    source = f"{run.info.artifact_uri}/model"
    client.create_model_version("m", source, run_id=run.info.run_id)
    client.set_registered_model_alias("m", "champion", "1")
    registry.check_model_files("models:/m@champion")  # all there: nothing to say

    shutil.rmtree(tmp_path / tracking.ARTIFACTS_DIR)
    with pytest.raises(PipelineError) as missing:
        registry.check_model_files("models:/m@champion")
    line = f"models:/m@champion: version 1's files are missing: no folder {tmp_path}/mlartifacts/"
    assert str(missing.value).startswith(line)
    assert "mlartifacts/ deleted or moved?" in str(missing.value)
    with pytest.raises(PipelineError, match=r"^models:/m@nobody: .*alias nobody not found.* \(in the MLflow store"):
        registry.check_model_files("models:/m@nobody")

"""The pretrain stage: GRUs pretrained on the train split's and the unlabeled reviews' text only, its
MLflow run, and train starting from its weights (train.init pretrained, region)."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
from mlflow import MlflowClient
from ruamel.yaml import YAML

from tests.helpers import edit_params, sh, stage_cmd

pytestmark = pytest.mark.slow  # run first by make test (tests/conftest.py)

# Tiny: 150 train + 150 unlabeled reviews, GRU(8) over embedding(16), as TINY_PARAMS' classifier.
PRETRAIN = {
    "unlabeled": {"teacher": "nbsvm", "ngram_max": 1, "limit": 400},
    "pretrain": {
        "method": "region",
        "embedding_dim": 16,
        "units": 8,
        "window": 3,
        "targets": 1000,
        "negatives": 32,
        "chunk": 32,
        "batch_size": 32,
        "epochs": 2,
        "limit": 150,
    },
    "train": {"cell": "gru", "bidirectional": True, "init": "pretrained", "unlabeled_weight": 0.5, "batch_size": 256},
}
# Runs in the project: the classifier's weights when training begins, and after it (fitting.fit's own callbacks).
CAPTURE = """
import json, sys
from pathlib import Path
from imdb_rnn.runtime.devices import use_backend
from imdb_rnn.runtime.params import load_params
params = load_params()
params = params.model_copy(update={"train": params.train.model_copy(update={"init": sys.argv[1]})})
use_backend("jax", params.train.seed)
import keras, numpy as np
from imdb_rnn.models import fitting, pretraining
from imdb_rnn.data.splits import TrainingData
from imdb_rnn.runtime.devices import cluster, distribution
from imdb_rnn.models.rnn import build_model

class Capture(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.begin = [np.array(w) for w in self.model.get_weights()]

capture = Capture()
data = TrainingData.load(Path("data/padded"), Path("data/unlabeled"), 0.0)
vocabulary = data.vocabulary
data = TrainingData(data.x[:256], data.y[:256], None, data.x_val[:64], data.y_val[:64], vocabulary)
model = fitting.fit(params.train, distribution(params.train, cluster(params.train)), data, [capture],
                    Path("data/pretrained")).model
pretrained = pretraining.load_weights(Path("data/pretrained"))
names = [v.path for v in model.weights]
begin = dict(zip(names, capture.begin))
end = dict(zip(names, [np.array(w) for w in model.get_weights()]))
keras.utils.set_random_seed(params.train.seed)
fresh = build_model(params.train.model_copy(update={"init": "none"}), len(vocabulary), None)
fresh.build((None, None))
layer = "region_embedding" if sys.argv[1] == "region" else "embedding"
# e.g. imdb_gru/embedding/embeddings
embedding = next(name for name in names if name.split("/")[-2:] == [layer, "embeddings"])
report = {
    "embedding_equal": bool(np.array_equal(begin[embedding], pretrained["embedding"])),
    "embedding_random": bool(np.array_equal(begin[embedding], np.array(fresh.layers[0].get_weights()[0]))),
    "embedding_changed": not bool(np.array_equal(end[embedding], pretrained["embedding"])),
}
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def pretrained(reproduced, real_archive, tmp_path_factory):
    """A copy of the reproduced project after `dvc repro` with PRETRAIN (its MLflow store kept)."""
    project = tmp_path_factory.mktemp("pretrain") / "project"
    shutil.copytree(reproduced, project, symlinks=True)
    edit_params(project / "params.yaml", PRETRAIN)
    result = sh(["dvc", "repro"], project, IMDB_ARCHIVE=str(real_archive))
    return project, result.stdout


def test_the_pretrain_stage_runs_on_a_slice_and_logs_its_run(pretrained):
    project, log = pretrained
    assert [
        stage
        for stage in ("fetch", "split", "pad", "unlabeled", "pretrain", "train", "evaluate", "baseline")
        if f"Running stage '{stage}'" in log
    ] == ["unlabeled", "pretrain", "train", "evaluate"]
    with np.load(project / "data/pretrained/weights.npz") as data:
        weights = {name: data[name] for name in data.files}
    vocabulary = json.loads((project / "data/padded/vocab.json").read_text())["tokens"]
    assert weights["embedding"].shape == (len(vocabulary), 16)
    assert [weights[f"forward_{i}"].shape for i in range(3)] == [
        (16, 24),
        (8, 24),
        (2, 24),
    ]  # Keras GRU(8), reset_after
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    run = client.get_run(json.loads((project / "data/pretrained/run.json").read_text())["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["role"] == "pretrain" and run.data.tags["stage"] == "pretrain"
    assert run.data.params["pretrain.method"] == "region" and run.data.metrics["reviews"] == 300
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert [metric.step for metric in losses] == [1, 2] and all(np.isfinite(metric.value) for metric in losses)
    assert run.data.metrics["tokens_per_second"] > 0 and run.data.metrics["minutes"] > 0
    # The classifier's run names the pretrain run and the md5 of its output, as dvc.lock has it.
    training = client.get_run(json.loads((project / "models/mlflow_run.json").read_text())["run_id"])
    lock = YAML(typ="safe").load((project / "dvc.lock").read_text())
    (out,) = lock["stages"]["pretrain"]["outs"]
    assert training.data.tags["pretrain_run_id"] == run.info.run_id
    assert training.data.tags["data.pretrained.md5"] == out["md5"]
    assert training.data.params["train.init"] == "pretrained"


@pytest.mark.parametrize("init", ["pretrained", "region"])
def test_train_starts_from_the_pretrained_weights(pretrained, init):
    """Before the first step the layers hold the pretrain stage's weights, not a random init;
    training then moves them (pretrained) or leaves them frozen (region)."""
    project, _ = pretrained
    report = json.loads(sh(["python", "-c", CAPTURE, init], project).stdout.strip().splitlines()[-1])
    assert report["embedding_equal"] and not report["embedding_random"]
    assert report["embedding_changed"] == (init == "pretrained")


def test_the_recurrent_layers_start_from_both_pretrained_directions(pretrained):
    project, _ = pretrained
    script = """
import json
from pathlib import Path
from imdb_rnn.runtime.devices import use_backend
use_backend("jax", 0)
from keras import layers
from imdb_rnn.models import pretraining
from imdb_rnn.models.rnn import build_model
from imdb_rnn.runtime.params import load_params
params = load_params()
weights = pretraining.load_weights(Path("data/pretrained"))
model = build_model(params.train, weights["embedding"].shape[0], None)
model.build((None, None))
fresh = [w.copy() for w in model.get_weights()]
pretraining.load_into(model, Path("data/pretrained"))
recurrent = next(layer for layer in model.layers if isinstance(layer, layers.Bidirectional))
print(json.dumps({side: [bool((a == b).all()) for a, b in zip(getattr(recurrent, side + "_layer").get_weights(),
                                                                  [weights[f"{side}_{i}"] for i in range(3)])]
                  for side in ("forward", "backward")}))
"""
    report = json.loads(sh(["python", "-c", script], project).stdout.strip().splitlines()[-1])
    assert report == {"forward": [True] * 3, "backward": [True] * 3}


def test_no_validation_or_test_text_reaches_the_pretraining(pretrained, tmp_path):
    """The stage's declared inputs hold no validation or test text, it runs with them gone, and what
    it trains on is exactly the train split's reviews then the unlabeled ones."""
    source, _ = pretrained
    project = tmp_path / "project"
    shutil.copytree(source, project, symlinks=True)
    deps = YAML(typ="safe").load((project / "dvc.yaml").read_text())["stages"]["pretrain"]["deps"]
    assert [dep for dep in deps if dep.startswith("data/")] == [
        "data/padded/train.npz",
        "data/padded/vocab.json",
        "data/unlabeled",
    ]
    for path in (
        "data/split/val.parquet",
        "data/split/test.parquet",
        "data/padded/val.npz",
        "data/padded/test.npz",
        "data/padded/test_short.npz",
        "data/raw/reviews.parquet",
    ):
        (project / path).unlink()
    sh(stage_cmd(project, "pretrain"), project)
    script = """
import numpy as np
from pathlib import Path
from imdb_rnn.data.corpus import token_ids
x = token_ids(Path("data/padded/train.npz"), Path("data/unlabeled"), 150)
train, unlabeled = np.load("data/padded/train.npz")["x"], np.load("data/unlabeled/labeled_by_teacher.npz")["x"]
assert np.array_equal(x, np.concatenate([train[:150], unlabeled[:150]]))
print("ok")
"""
    assert sh(["python", "-c", script], project).stdout.strip() == "ok"


def test_method_none_writes_empty_outputs_in_about_a_second(reproduced, tmp_path):
    """The default: no MLflow run, an empty weights file and no run id, the same bytes every time."""
    project = tmp_path / "project"
    shutil.copytree(reproduced, project, symlinks=True)
    before = (project / "data/pretrained/weights.npz").read_bytes()
    with np.load(project / "data/pretrained/weights.npz") as data:
        assert data.files == []
    assert json.loads((project / "data/pretrained/run.json").read_text()) == {"run_id": None}
    start = time.perf_counter()
    sh(stage_cmd(project, "pretrain"), project)
    assert time.perf_counter() - start < 10  # about a second; the margin is for a loaded machine
    assert (project / "data/pretrained/weights.npz").read_bytes() == before
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sentiment")
    assert client.search_runs([experiment.experiment_id], filter_string="tags.stage = 'pretrain'") == []

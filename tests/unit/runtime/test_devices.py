"""imdb_rnn.runtime.devices: each process's place in a multi-worker cluster."""

from __future__ import annotations

import json

import pytest

from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.params import TrainParams
from tests.helpers import DEFAULT_PARAMS

DEFAULT_TRAIN = DEFAULT_PARAMS.train

# --- multi-worker: each process's place in the cluster, from TF_CONFIG or KERAS_DISTRIBUTION_* ---


def multi_worker(backend: str) -> TrainParams:
    return DEFAULT_TRAIN.model_copy(update={"backend": backend, "distribute": "multi_worker"})


def test_tf_config_ranks_the_chief_first_then_the_workers(monkeypatch):
    from imdb_rnn.runtime.devices import cluster

    config = {
        "cluster": {"worker": ["10.0.0.2:2222", "10.0.0.3:2222"], "chief": ["10.0.0.1:2222"]},
        "task": {"type": "worker", "index": 1},
    }
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    place = cluster(multi_worker("tensorflow"))
    assert (place.workers, place.rank, place.chief) == (3, 2, False)
    assert place.name(0) == "worker 0 (10.0.0.1:2222)"
    monkeypatch.setenv("TF_CONFIG", json.dumps(config | {"task": {"type": "chief", "index": 0}}))
    assert cluster(multi_worker("tensorflow")).chief


@pytest.mark.parametrize(
    "backend, env",
    [
        ("tensorflow", {"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}'}),
        ("tensorflow", {"TF_CONFIG": "not json"}),
        (
            "jax",
            {
                "KERAS_DISTRIBUTION_JOB_ADDRESSES": "a:1",
                "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                "KERAS_DISTRIBUTION_PROCESS_ID": "2",
            },
        ),
    ],
)
def test_a_malformed_cluster_is_refused_in_one_line(monkeypatch, backend, env):
    from imdb_rnn.runtime.devices import cluster

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(PipelineError, match=r"^(TF_CONFIG|KERAS_DISTRIBUTION_NUM_PROCESSES)") as refused:
        cluster(multi_worker(backend))
    assert "\n" not in str(refused.value)

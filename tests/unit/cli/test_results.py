"""imdb-results: the README's results table from a real MLflow store's runs."""

from __future__ import annotations

import datetime

import pytest
from mlflow import MlflowClient

from imdb_rnn.cli.results import BEGIN, END, table, write_readme
from imdb_rnn.runtime.errors import PipelineError
from tests.helpers import empty_store


def finished_run(client, experiment_id, name, tags, params, metrics):
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value)
    for key, value in metrics.items():
        for step, item in enumerate(value if isinstance(value, list) else [value]):
            client.log_metric(run.info.run_id, key, item, step=step)
    client.set_terminated(run.info.run_id)


@pytest.fixture()
def project(tmp_path):
    client = MlflowClient(tracking_uri=empty_store(tmp_path))
    experiment_id = client.create_experiment("imdb-sentiment")
    commit = {"git_commit": "0123456789abcdef", "git_dirty": "false"}
    scores = {"val.accuracy": 0.91, "val.accuracy_ci95_low": 0.902, "val.accuracy_ci95_high": 0.918}
    finished_run(
        client,
        experiment_id,
        "baseline-nbsvm",
        {**commit, "role": "baseline"},
        {},
        scores | {"test.accuracy": 0.9145, "fit_seconds": 30.0},
    )
    compared = {"compare.difference": -0.0017, "compare.difference_ci95_low": -0.0051}
    compared |= {"compare.difference_ci95_high": 0.0017, "compare.mcnemar_p": 0.33}
    finished_run(
        client,
        experiment_id,
        "gru-u32",
        {**commit, "stage": "train"},
        {
            "train.unlabeled_weight": "1.0",
            "pad.ngrams": "2",
            "train.cell": "gru",
            "unlabeled.teacher": "nbsvm",
            "train.init": "none",
        },
        scores | {"val.accuracy": 0.92, "test.accuracy": 0.9128, "epoch_seconds": [60.0, 60.0]} | compared,
    )
    return tmp_path


def test_the_table_reads_the_runs_best_validation_first_and_says_when_within_noise(project):
    _, _, model, baseline = table([str(project)]).splitlines()
    assert model.startswith("| `semi` preset (gru-u32) | 0.9200 [0.9020, 0.9180] | 0.9128 | not read |")
    assert "-0.0017 [-0.0051, +0.0017] vs baseline-nbsvm, p 0.33: within noise | train 2.0 |" in model
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    assert model.endswith(f"| {today}, 0123456 |")  # the run's date and commit
    assert baseline.startswith("| baseline-nbsvm | 0.9100 [0.9020, 0.9180] | 0.9145 | not read | — | fit 0.5 |")


def test_the_readme_table_is_replaced_between_its_markers_and_a_wrong_store_is_one_line(project, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Results\n\n{BEGIN}\n| old |\n{END}\n\nafter\n")
    write_readme(readme, table([str(project)]))
    text = readme.read_text()
    assert "| old |" not in text and "`semi` preset" in text and text.endswith(f"{END}\n\nafter\n")
    with pytest.raises(PipelineError, match=r"no mlflow.db in this folder"):
        table([str(tmp_path / "nowhere")])

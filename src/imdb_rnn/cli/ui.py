"""Where `make ui` sends a newcomer: `imdb-ui http://127.0.0.1:5000` prints the UI's address and
the link to the project's runs (creating the experiment, or completing its tags, if needed)."""

from __future__ import annotations

import contextlib
import json
import sys
import time

from imdb_rnn.runtime.errors import PipelineError, run
from imdb_rnn.runtime.params import load_params
from imdb_rnn.tracking import store as tracking

# The runs table shows no metric column until one is picked, and no server setting changes that.
# A saved view is the UI's own way to keep columns and sort: a tag the UI's "Save view" writes
# (`mlflow.sharedViewState.<key>`, this envelope), listed under the experiment's Views and opened
# by `?viewStateShareKey=<key>` (ui_url). Only the fields it changes: the UI fills in the rest.
# Sorted by validation accuracy, the figure every choice is made on; test is shown, never the sort.
VIEW_KEY = "accuracy"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
VIEW_NAME = "Validation and test accuracy"
VIEW_STATE = {
    "selectedColumns": ["metrics.`val.accuracy`", "metrics.`test.accuracy`", "attributes.`Models`"],
    "orderByKey": "metrics.`val.accuracy`",
    "orderByAsc": False,
}


def saved_view() -> str:
    """The saved view's tag value, as the UI's "Save view" writes it."""
    now = int(time.time() * 1000)
    return json.dumps({"name": VIEW_NAME, "createdAt": now, "updatedAt": now, "state": json.dumps(VIEW_STATE)})


def ui_url(base: str, experiment_id: str) -> str:
    """The experiment's runs in the UI at `base`: the model-training workflow, with the saved view."""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"


def main() -> None:
    if len(sys.argv) != 2:
        raise PipelineError("usage: imdb-ui UI_BASE_URL")
    base = sys.argv[1].rstrip("/")
    name = load_params(keys=("mlflow.experiment_name",)).mlflow.experiment_name
    experiment_id = tracking.use_experiment(name)
    # Written each time, so a store's older view is brought up to date; a server that refuses the tag
    # (a read-only user) still gets the link.
    with contextlib.suppress(tracking.MlflowException):
        tracking.mlflow.MlflowClient().set_experiment_tag(experiment_id, VIEW_TAG, saved_view())
    print(
        f"MLflow UI: {base} — experiment {name}; its runs with validation and test accuracy:\n"
        f"  {ui_url(base, experiment_id)}",
        flush=True,
    )


def cli() -> None:  # the console script
    run(main)


if __name__ == "__main__":
    cli()

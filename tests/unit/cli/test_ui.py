"""imdb_rnn.cli.ui: the saved view the MLflow UI opens on."""

from __future__ import annotations

import json

from imdb_rnn.cli import ui


def test_the_saved_view_sorts_runs_by_validation_accuracy_and_still_shows_test():
    """Choices are made on validation: the UI must not invite picking a run by its test figure."""
    view = json.loads(ui.saved_view())
    state = json.loads(view["state"])
    assert view["name"] == ui.VIEW_NAME
    assert (state["orderByKey"], state["orderByAsc"]) == ("metrics.`val.accuracy`", False)
    assert {"metrics.`val.accuracy`", "metrics.`test.accuracy`"} <= set(state["selectedColumns"])

"""Where `make ui` sends a newcomer: `imdb-ui http://127.0.0.1:5000` prints the UI's
address and the link to the project's runs (creating the experiment, or completing its tags, if needed)."""

from __future__ import annotations

import sys

from imdb_rnn.runtime.errors import PipelineError, run
from imdb_rnn.runtime.params import load_params
from imdb_rnn.tracking import store as tracking


def main() -> None:
    if len(sys.argv) != 2:
        raise PipelineError("usage: imdb-ui UI_BASE_URL")
    base = sys.argv[1].rstrip("/")
    name = load_params(keys=("mlflow.experiment_name",)).mlflow.experiment_name
    experiment_id = tracking.use_experiment(name)
    print(
        f"MLflow UI: {base} — experiment {name}; its runs with validation and test accuracy:\n"
        f"  {tracking.ui_url(base, experiment_id)}",
        flush=True,
    )


def cli() -> None:
    """The console script `imdb-ui` (also `python -m imdb_rnn.cli.ui`)."""
    run(main)


if __name__ == "__main__":
    cli()

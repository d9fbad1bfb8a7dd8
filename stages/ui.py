"""Where `make ui` sends a newcomer: `python -m stages.ui http://127.0.0.1:5000` prints the UI's
address and the link to the project's runs (creating the experiment, or completing its tags, if needed)."""

from __future__ import annotations

import sys

from stages import tracking
from stages.common import PipelineError, run
from stages.params import load_params


def main() -> None:
    if len(sys.argv) != 2:
        raise PipelineError("usage: python -m stages.ui UI_BASE_URL")
    base = sys.argv[1].rstrip("/")
    name = load_params(keys=("mlflow.experiment_name",)).mlflow.experiment_name
    experiment_id = tracking.use_experiment(name)
    print(f"MLflow UI: {base} — experiment {name}; its runs with validation and test accuracy:\n"
          f"  {tracking.ui_url(base, experiment_id)}", flush=True)


if __name__ == "__main__":
    run(main)

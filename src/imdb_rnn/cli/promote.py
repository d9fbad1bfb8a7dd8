"""promote: move the registry's `champion` alias by hand, to a version the rule did not choose.

`imdb-promote 7` (make promote VERSION=7): a version of mlflow.registered_model_name in the project's store
(MLFLOW_TRACKING_URI if set); versions evaluate registers later compete with it (tracking.promotion)."""

from __future__ import annotations

import sys

from imdb_rnn.runtime.errors import PipelineError, run
from imdb_rnn.runtime.params import load_params
from imdb_rnn.tracking import promotion
from imdb_rnn.tracking import store as tracking


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        raise PipelineError("usage: imdb-promote VERSION (a version number of the registered model)")
    name = load_params(keys=("mlflow.registered_model_name",)).mlflow.registered_model_name
    tracking.mlflow.set_tracking_uri(tracking.tracking_uri())
    with tracking.store_errors():
        print(promotion.pin(name, sys.argv[1].strip()))


def cli() -> None:  # the console script
    run(main)


if __name__ == "__main__":
    cli()

"""serve (`make serve`): a registered model over HTTP on 127.0.0.1, MLflow's scoring server, once the
model is known to load: a missing model, alias or artifact folder is one line, not MLflow's traceback."""

from __future__ import annotations

import argparse
import os

from imdb_rnn.runtime.errors import run
from imdb_rnn.tracking import registry
from imdb_rnn.tracking import store as tracking


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_uri", help="an MLflow model URI: models:/imdb-sentiment-rnn@champion")
    parser.add_argument("--port", type=int, default=5002)
    args = parser.parse_args()
    tracking.mlflow.set_tracking_uri(tracking.tracking_uri())
    registry.check_model_files(args.model_uri)
    command = ["mlflow", "models", "serve", "-m", args.model_uri, "--env-manager", "local"]
    os.execvp(command[0], [*command, "--host", "127.0.0.1", "--port", str(args.port)])


if __name__ == "__main__":
    run(main)

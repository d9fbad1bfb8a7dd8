"""`imdb-params [params.yaml]`: validate a params file before DVC reads it, one line either way."""

from __future__ import annotations

import sys
from pathlib import Path

from imdb_rnn.runtime.errors import run
from imdb_rnn.runtime.params import PARAMS_FILE, load_params


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else PARAMS_FILE
    load_params(path)
    print(f"{path}: ok")


def cli() -> None:  # the console script
    run(main)


if __name__ == "__main__":
    cli()

"""`imdb-preset presets/best.yaml [params.yaml]`: apply a preset (a partial params file) to params.yaml, keeping
its comments; refused in one line, and params.yaml left as it was, if the result is not valid."""

from __future__ import annotations

import sys
from pathlib import Path

from ruamel.yaml import YAML

from imdb_rnn.runtime.errors import PipelineError, run
from imdb_rnn.runtime.outputs import atomic_path
from imdb_rnn.runtime.params import PARAMS_FILE, read_params_file, validate


def merge(target: dict, changes: dict, prefix: str = "") -> None:
    for key, value in changes.items():
        if isinstance(value, dict):
            if not isinstance(target.get(key), dict):
                raise PipelineError(f"{prefix}{key}: not a section of params.yaml")
            merge(target[key], value, f"{prefix}{key}.")
        else:
            target[key] = value


def apply_preset(preset: Path, params_path: Path) -> None:
    changes = read_params_file(preset)
    yaml = YAML()  # round-trip: params.yaml keeps its comments and order
    yaml.representer.add_representer(
        type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    read_params_file(params_path)  # the project's checks first: a broken params.yaml is one line
    params = yaml.load(params_path.read_text(encoding="utf-8"))
    merge(params, changes)
    with atomic_path(params_path) as staged:  # params.yaml changes only if the result is valid
        with staged.open("w", encoding="utf-8") as stream:
            yaml.dump(params, stream)
        validate(read_params_file(staged), preset)


def main() -> None:
    if len(sys.argv) not in (2, 3):
        raise PipelineError("usage: imdb-preset PRESET.yaml [params.yaml]")
    preset = Path(sys.argv[1])
    params_path = Path(sys.argv[2]) if len(sys.argv) == 3 else PARAMS_FILE
    apply_preset(preset, params_path)
    print(f"{params_path}: {preset} applied")


def cli() -> None:  # the console script
    run(main)


if __name__ == "__main__":
    cli()

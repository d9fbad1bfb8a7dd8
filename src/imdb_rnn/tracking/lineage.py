"""What DVC recorded about the stages before this one (dvc.lock): the data's md5 and the params
that produced it, so an MLflow run names the exact data and settings it started from."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML, YAMLError

LOCK_FILE = Path("dvc.lock")  # beside params.yaml, in the folder DVC runs stages from


def _locked_stages(lock_file: Path) -> dict:
    """dvc.lock's stages (while a stage runs: those before it, as DVC updates it after each); empty outside DVC."""
    try:
        lock = YAML(typ="safe", pure=True).load(Path(lock_file).read_text(encoding="utf-8")) or {}
    except (OSError, YAMLError):
        return {}
    return lock.get("stages") or {}


def data_md5_tags(lock_file: Path = LOCK_FILE) -> dict[str, str]:
    """The md5 of each data output as a tag: data/split -> 'data.split.md5', data/raw/*.parquet -> 'data.raw.md5'."""
    tags = {}
    for stage in _locked_stages(lock_file).values():
        for out in stage.get("outs") or []:
            parts = Path(out["path"]).parts
            if len(parts) > 1 and parts[0] == "data" and "md5" in out:
                tags[f"data.{parts[1]}.md5"] = out["md5"]
    return tags


def upstream_params(stages: tuple[str, ...], lock_file: Path = LOCK_FILE) -> dict[str, object]:
    """The params values that `stages` last ran with, {"pad.max_len": 500, ...}: the settings behind
    the data a run trained on, which may differ from params.yaml's if a stage has not re-run."""
    values: dict[str, object] = {}
    locked = _locked_stages(lock_file)
    for stage in stages:
        for file_params in ((locked.get(stage) or {}).get("params") or {}).values():
            values.update(flat(file_params))
    return values


def flat(data: dict, prefix: str = "") -> dict[str, object]:
    """A nested mapping's leaves, keyed "section.key" as MLflow logs params."""
    leaves: dict[str, object] = {}
    for key, value in (data or {}).items():
        leaves |= flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value}
    return leaves

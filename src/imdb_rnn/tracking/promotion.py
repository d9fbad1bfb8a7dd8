"""The registry's `champion` alias, moved on val.accuracy by `mlflow.promote` or by hand (`pin`): the rules
are docs/tracking.md's "The `champion` alias". No store compares and sets in one step, so the alias is a
function of the registry's content (`rightful`), which each evaluation sets after tagging its version and
reads back until the two agree: whoever writes last sees every version, whatever the interleaving."""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

from ruamel.yaml import YAML, YAMLError

from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.tracking import store as tracking
from imdb_rnn.tracking.lineage import flat

ALIAS = "champion"
METRIC = "val.accuracy"
MODES = ("best_val", "always", "never")
MODE_TAG = "promotion.mode"  # on each version evaluate registers: how it competes
PIN_TAG = "champion.pinned"  # on the registered model: {"version": "7", "after": "12"}, by imdb-promote
SETTLE_ATTEMPTS = 20
SETTLE_PAUSE_S = 0.3
PRESETS_DIR = Path("presets")
# What makes two val.accuracy figures comparable: the same validation reviews, the same threshold.
SCOPE = ("data.split.md5", "evaluate.threshold")


class Candidate(NamedTuple):
    version: int
    mode: str | None
    accuracy: float | None
    scope: tuple[str | None, ...] = ()  # its SCOPE tags' values


def _accuracy(client, version) -> float | None:
    """val.accuracy from the version's tags, else from its run (a version registered before the tag)."""
    try:
        if METRIC in version.tags:
            return float(version.tags[METRIC])
        return client.get_run(version.run_id).data.metrics.get(METRIC)
    except Exception:  # not a number, a deleted run, a run in another store: no score
        return None


def _filter(name: str) -> str:
    return "name = '{}'".format(name.replace("'", "\\'"))


def _state(client, name: str) -> tuple[dict[int, Candidate], dict | None]:
    try:
        pin = json.loads(client.get_registered_model(name).tags.get(PIN_TAG) or "null")
    except ValueError:
        pin = None
    pinned = str((pin or {}).get("version"))
    candidates = {}
    for version in client.search_model_versions(_filter(name)):
        mode = version.tags.get(MODE_TAG)
        scored = mode or METRIC in version.tags or str(version.version) == pinned  # else no run lookup
        accuracy = _accuracy(client, version) if scored else None
        scope = tuple(version.tags.get(key) for key in SCOPE)
        candidates[int(version.version)] = Candidate(int(version.version), mode, accuracy, scope)
    return candidates, pin


def _better(candidate: Candidate, than: Candidate | None) -> bool:
    if than is None:
        return True
    if candidate.scope != than.scope or candidate.accuracy is None:  # other reviews or threshold: not comparable
        return False
    return than.accuracy is None or candidate.accuracy > than.accuracy  # an unscored champion loses


def rightful(candidates: dict[int, Candidate], pin: dict | None, without: int | None = None) -> int | None:
    """The version that should hold the alias, from the registry's content alone (without `without`:
    the one it would hold had that version never been registered)."""
    pool = {number: c for number, c in candidates.items() if number != without}
    anchors = [(number, 0, number) for number, c in pool.items() if c.mode == "always"]
    if pin and int(pin.get("version", 0)) in pool:
        anchors.append((int(pin["after"]), 1, int(pin["version"])))  # a pin after version n beats n's `always`
    after, _, anchor = max(anchors, default=(0, 0, None))
    best = pool[anchor] if anchor is not None else None
    for number, candidate in sorted(pool.items()):
        if number > after and candidate.mode == "best_val" and _better(candidate, best):
            best = candidate
    return best.version if best else None


def holder(client, name: str) -> int | None:
    aliases = client.get_registered_model(name).aliases or {}
    return int(aliases[ALIAS]) if ALIAS in aliases else None


def _set_alias(client, name: str, version: int) -> None:
    # Two processes upserting the alias at once: the later one may hit the unique key; its retry updates.
    tracking._retried(lambda: client.set_registered_model_alias(name, ALIAS, str(version)), tracking._DUPLICATE)


def settle(client, name: str) -> tuple[int | None, dict[int, Candidate], dict | None]:
    """Set the alias to `rightful`'s answer and read it back until the two agree."""
    for _ in range(SETTLE_ATTEMPTS):
        current = holder(client, name)
        candidates, pin = _state(client, name)
        winner = rightful(candidates, pin)
        if winner is None or winner == current:
            return current, candidates, pin
        _set_alias(client, name, winner)
        time.sleep(SETTLE_PAUSE_S * (1 + random.random()))  # then read back: another may have written since
    raise PipelineError(f"{name}@{ALIAS}: still moving after {SETTLE_ATTEMPTS} checks (another writer?)")


def withdraw(client, name: str, versions) -> None:
    """`versions` of `name` deleted (their run did not finish), the alias settled again among those left."""
    for version in versions:
        client.delete_model_version(name, version)
    settle(client, name)


def _score(accuracy: float | None) -> str:
    return "no val.accuracy" if accuracy is None else f"val.accuracy {accuracy:.4f}"


def decision_tags(version: int, mode: str, champion: int | None, candidates, pin) -> dict[str, str]:
    """Why `version` is, or is not, the champion: against which version, by how much."""
    mine = candidates[version]
    promoted = champion == version
    other = rightful(candidates, pin, without=version) if promoted else champion
    rival = candidates.get(other)
    theirs = rival.accuracy if rival else None
    comparable = rival is None or rival.scope == mine.scope
    delta = f"{mine.accuracy - theirs:+.4f}" if comparable and None not in (mine.accuracy, theirs) else None
    by = f" ({delta})" if delta else ""
    if mode == "never":
        reason = f"mlflow.promote is never; the champion is version {champion}" if champion else "mlflow.promote: never"
    elif promoted and other is None:
        reason = f"the first version to compete: {_score(mine.accuracy)}"
    elif promoted and mode == "always":
        reason = f"mlflow.promote is always: took the alias from version {other}{by}"
    elif promoted:
        reason = f"{_score(mine.accuracy)} beats version {other}'s {_score(theirs)}{by}"
    elif mode == "always":  # a later `always` version or a manual promotion came after it
        reason = f"promoted, then superseded by version {other}"
    elif not comparable:
        differ = ", ".join(f"{k} {a} vs {b}" for k, a, b in zip(SCOPE, mine.scope, rival.scope, strict=True) if a != b)
        reason = (
            f"not compared with version {other}: scored on other validation reviews or threshold ({differ}); "
            f"never promoted automatically, imdb-promote {version} moves the alias by hand"
        )
    elif theirs is not None and mine.accuracy == theirs:
        reason = f"{_score(mine.accuracy)} ties version {other}'s: a tie keeps the champion"
    else:
        reason = f"{_score(mine.accuracy)} does not beat version {other}'s {_score(theirs)}{by}"
    tags = {MODE_TAG: mode, "promotion.promoted": str(promoted).lower(), "promotion.reason": reason}
    tags |= {"promotion.against": str(other)} if other is not None else {}
    return tags | ({"promotion.val_accuracy_delta": delta} if delta else {})


def promote(name: str, version: str | int, mode: str, scores: dict[str, float] | None = None) -> str:
    """After evaluate registered `version` (tagged with val.accuracy): describe it (`scores`), move the
    alias by `mode`, tag the version with why; returns the line to print."""
    if mode not in MODES:
        raise PipelineError(f"mlflow.promote: expected one of {', '.join(MODES)} (got {mode!r})")
    client = tracking.mlflow.MlflowClient()
    number = int(version)
    client.set_model_version_tag(name, str(number), MODE_TAG, mode)  # first: it competes from now on
    if scores is not None:
        client.update_model_version(name, str(number), description=describe(client, name, number, scores))
    champion, candidates, pin = settle(client, name)
    tags = decision_tags(number, mode, champion, candidates, pin)
    for key, value in tags.items():
        client.set_model_version_tag(name, str(number), key, value)
    verb = "is now" if champion == number else "stays"
    held = "not set" if champion is None else f"{verb} version {champion}"
    return f"{name}@{ALIAS}: {held} — version {number}: {tags['promotion.reason']}"


def pin(name: str, version: str) -> str:
    """imdb-promote: the alias moved by hand to an existing `version`, which later versions compete with;
    returns the line to print."""
    client = tracking.mlflow.MlflowClient()
    if not (version.isascii() and version.isdigit()):  # isdigit alone takes '²' (ValueError) and '١' (1)
        raise PipelineError(f"{name}: {version!r} is not a version number")
    version = str(int(version))
    numbers = [int(v.version) for v in client.search_model_versions(_filter(name))]
    if not numbers:
        raise PipelineError(f"{name}: no such registered model in {tracking.redact(tracking.tracking_uri())}")
    if int(version) not in numbers:
        raise PipelineError(f"{name}: no version {version} (versions {min(numbers)} to {max(numbers)})")
    where = client.get_model_version_download_uri(name, version)
    if not any(Path(f.path).name == "MLmodel" for f in tracking.mlflow.artifacts.list_artifacts(artifact_uri=where)):
        # the alias would name a model that cannot load (`make serve` failed in 43 lines)
        raise PipelineError(f"{name}: version {version}: its model files are gone (no MLmodel in {where})")
    before = holder(client, name)
    client.set_registered_model_tag(name, PIN_TAG, json.dumps({"version": version, "after": str(max(numbers))}))
    _set_alias(client, name, int(version))
    client.set_model_version_tag(name, version, "promotion.promoted", "true")
    was = f"version {before}" if before is not None else "no champion"
    client.set_model_version_tag(name, version, "promotion.reason", f"promoted by hand (imdb-promote), from {was}")
    candidates, _ = _state(client, name)
    scores = " → ".join(_score(candidates[n].accuracy) for n in (before, int(version)) if n in candidates)
    moved = "stays on" if before == int(version) else f"moved from version {before} to" if before else "set to"
    return f"{name}@{ALIAS}: {moved} version {version} ({scores})"


def leaves(text: str) -> dict[str, str]:
    """A params file's leaves as strings, as MLflow logs params (AttributeError: not a mapping)."""
    return {key: str(value) for key, value in flat(YAML(typ="safe", pure=True).load(text)).items()}


def _preset(changed: dict[str, str], presets_dir: Path = PRESETS_DIR) -> tuple[str | None, set[str]]:
    """The preset (presets/*.yaml) whose every value the run has and that explains most of `changed`."""
    best, covered = None, set()
    for path in sorted(presets_dir.glob("*.yaml")):
        try:
            values = leaves(path.read_text())
        except (OSError, YAMLError, AttributeError):
            continue
        explained = {key for key in changed if key in values}
        if explained and len(explained) > len(covered) and all(changed.get(k, v) == v for k, v in values.items()):
            best, covered = path.stem, explained
    return best, covered


def describe(client, name: str, version: int, scores: dict[str, float]) -> str:
    """The version's description, read on its own on the registry page: its run, the preset or params that
    differ from the committed params.yaml (a `dvc exp run`'s baseline), val and test accuracy."""
    run = client.get_run(client.get_model_version(name, str(version)).run_id)
    params = dict(run.data.params)
    if "training_run_id" in run.data.tags:  # an evaluation's own child run: the training run has the rest
        params = {**client.get_run(run.data.tags["training_run_id"]).data.params, **params}
    revision = os.environ.get("DVC_EXP_BASELINE_REV") or "HEAD"
    try:
        commit = tracking.git("rev-parse", "--short", revision)
        defaults = leaves(tracking.git("show", f"{revision}:params.yaml"))
    except (OSError, subprocess.CalledProcessError, YAMLError, AttributeError):  # outside git
        said = "Params: no committed params.yaml to compare with."
    else:
        changed = {key: value for key, value in sorted(params.items()) if key in defaults and defaults[key] != value}
        preset, covered = _preset(changed)
        rest = ", ".join(f"{key}={value}" for key, value in changed.items() if key not in covered)
        if preset:
            said = f"Preset {preset} over params.yaml at {commit}" + (f", and {rest}." if rest else ".")
        elif rest:
            said = f"Params that differ from params.yaml at {commit}: {rest}."
        else:
            said = f"Params as committed (params.yaml at {commit})."
    figures = " ".join(f"{key} {value:.4f}" for key, value in scores.items())
    return f"Run {run.info.run_name} ({run.info.run_id}).\n{said}\n{figures}."

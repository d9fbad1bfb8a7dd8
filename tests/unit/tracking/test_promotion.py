"""The champion rule as a function of the registry's content, and its settling under any interleaving
of evaluations finishing together (an in-memory registry whose every call may yield to another thread)."""

from __future__ import annotations

import random
import threading
import time
from types import SimpleNamespace

import pytest

from imdb_rnn.tracking import promotion
from imdb_rnn.tracking.promotion import Candidate, rightful


def pool(*entries: tuple[str | None, float | None]) -> dict[int, Candidate]:
    return {number: Candidate(number, mode, acc) for number, (mode, acc) in enumerate(entries, start=1)}


def test_the_best_validation_accuracy_wins_and_a_tie_keeps_the_earlier():
    assert rightful({}, None) is None
    assert rightful(pool(("best_val", 0.8)), None) == 1
    assert rightful(pool(("best_val", 0.8), ("best_val", 0.9), ("best_val", 0.85)), None) == 2
    assert rightful(pool(("best_val", 0.9), ("best_val", 0.9)), None) == 1


def test_never_does_not_compete_and_unscored_or_untagged_versions_wait():
    assert rightful(pool(("never", 0.99), ("best_val", 0.5)), None) == 2
    assert rightful(pool(("never", 0.99)), None) is None
    assert rightful(pool((None, 0.99), ("best_val", None), ("best_val", 0.6)), None) == 3


def test_always_and_a_manual_pin_anchor_and_later_versions_compete_with_them():
    versions = pool(("best_val", 0.9), ("always", 0.6), ("best_val", 0.7), ("best_val", 0.65))
    assert rightful(versions, None) == 3  # version 1 came before the anchor
    assert rightful(versions, {"version": "4", "after": "4"}) == 4  # pinned after version 4: nothing later
    assert rightful(versions, {"version": "1", "after": "2"}) == 1  # the pin is later than version 2's `always`
    assert rightful(versions, {"version": "9", "after": "9"}) == 3  # a pin on a deleted version is ignored
    assert rightful(versions, None, without=3) == 4


def test_only_versions_scored_on_the_same_validation_reviews_and_threshold_compete():
    """Issue 29: a 1-epoch model scored 0.8624 on another split.seed's validation reviews and took
    the alias from the default (0.8386 on the original ones)."""
    split_a, split_b = ("a" * 32, "0.5"), ("b" * 32, "0.5")
    versions = {
        1: Candidate(1, "best_val", 0.8386, split_a),
        2: Candidate(2, "best_val", 0.8624, split_b),  # another split.seed
        3: Candidate(3, "best_val", 0.95, ("a" * 32, "0.7")),  # another threshold
        4: Candidate(4, "best_val", 0.85, split_a),
    }
    assert rightful({n: versions[n] for n in (1, 2, 3)}, None) == 1
    assert rightful(versions, None) == 4  # compared with version 1 only
    # By hand (imdb-promote 2): later versions compete with it, on its split.
    assert rightful(versions | {5: Candidate(5, "best_val", 0.87, split_b)}, {"version": "2", "after": "4"}) == 5
    tags = promotion.decision_tags(2, "best_val", 1, versions, None)
    assert tags["promotion.promoted"] == "false" and "promotion.val_accuracy_delta" not in tags
    assert tags["promotion.reason"] == (
        f"not compared with version 1: scored on other validation reviews or threshold (data.split.md5 {'b' * 32} "
        f"vs {'a' * 32}); never promoted automatically, imdb-promote 2 moves the alias by hand"
    )
    assert (
        "(evaluate.threshold 0.7 vs 0.5)"
        in promotion.decision_tags(3, "best_val", 1, versions, None)["promotion.reason"]
    )


class Registry:
    """MlflowClient's registry calls on a dict, each yielding the thread for a random moment."""

    def __init__(self):
        self.versions: dict[str, dict[str, str]] = {}
        self.aliases: dict[str, str] = {}
        self.lock = threading.Lock()

    def _yield(self):
        time.sleep(random.random() / 2000)

    def add(self, accuracy: float) -> str:
        with self.lock:
            number = str(len(self.versions) + 1)
            self.versions[number] = {"val.accuracy": str(accuracy)}
        return number

    def search_model_versions(self, _):
        self._yield()
        with self.lock:
            return [SimpleNamespace(version=n, tags=dict(t), run_id=n) for n, t in self.versions.items()]

    def get_registered_model(self, _):
        self._yield()
        return SimpleNamespace(aliases=dict(self.aliases), tags={})

    def set_registered_model_alias(self, _, alias, version):
        self._yield()
        self.aliases[alias] = version

    def set_model_version_tag(self, _, version, key, value):
        self._yield()
        self.versions[version][key] = value


@pytest.mark.parametrize("trial", range(30))
def test_evaluations_finishing_together_leave_the_alias_on_the_best(monkeypatch, trial):
    registry = Registry()
    monkeypatch.setattr(promotion.tracking.mlflow, "MlflowClient", lambda: registry)
    monkeypatch.setattr(promotion, "SETTLE_PAUSE_S", 0.0005)
    rng = random.Random(trial)
    accuracies = [round(rng.uniform(0.7, 0.9), 2) for _ in range(rng.randint(2, 6))]
    start = threading.Barrier(len(accuracies))

    def evaluate(accuracy):
        version = registry.add(accuracy)
        start.wait()
        promotion.promote("m", version, "best_val")

    threads = [threading.Thread(target=evaluate, args=(accuracy,)) for accuracy in accuracies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    versions_by_accuracy = {n: float(t["val.accuracy"]) for n, t in registry.versions.items()}
    best = max(versions_by_accuracy, key=lambda n: (versions_by_accuracy[n], -int(n)))
    assert registry.aliases["champion"] == best
    for tags in registry.versions.values():
        assert tags["promotion.promoted"] in ("true", "false") and tags["promotion.mode"] == "best_val"


def test_make_serve_and_the_params_default_to_the_champion():
    from tests.helpers import DEFAULT_PARAMS as params
    from tests.helpers import ROOT

    assert params.mlflow.promote == "best_val"
    makefile = (ROOT / "Makefile").read_text()
    assert f"MODEL_URI ?= models:/{params.mlflow.registered_model_name}@{promotion.ALIAS}\n" in makefile
    assert "imdb-promote $(VERSION)" in makefile


@pytest.mark.parametrize("version", ["²", "١", "1.0", "-1", ""])
def test_a_version_number_is_ascii_digits_only(monkeypatch, version):
    """str.isdigit takes '²' (then a ValueError traceback) and '١' (then version 1 promoted): issue 30."""
    monkeypatch.setattr(promotion.tracking.mlflow, "MlflowClient", lambda: None)  # refused before any call
    with pytest.raises(promotion.PipelineError) as refused:
        promotion.pin("m", version)
    assert str(refused.value) == f"m: {version!r} is not a version number"

"""Benchmark: a cold `python -m stages.predict` with this checkout's code against an earlier commit's,
side by side on the same trained model: one review, and 10,000 short ones.

    python benchmarks/cold_start.py --project PATH [--before 20aa775] [--runs 5]

PATH is a project after `make repro` with the default (seed) model: its models/model.keras and
data/padded/vocab.json are used by both sides, and data/split/test.parquet gives the short reviews
(the first 30 words of test reviews). Each side runs in its own folder with its own `stages/` and
params.yaml; runs alternate before/after. Not part of the test suite: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REVIEW = "A wonderful film, I loved it."
COPIED = ("models/model.keras", "data/padded/vocab.json")


def side(folder: Path, revision: str | None, project: Path) -> Path:
    """A folder with `revision`'s stages/ and params.yaml (None: this checkout's) and the project's model."""
    folder.mkdir(parents=True)
    if revision:
        archive = subprocess.run(["git", "archive", revision, "stages", "params.yaml"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "x", "-C", str(folder)], input=archive, check=True)
    else:
        shutil.copytree(ROOT / "stages", folder / "stages", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(ROOT / "params.yaml", folder / "params.yaml")
    for name in COPIED:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / name, folder / name)
    return folder


def timed(folder: Path, *args: str) -> tuple[float, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("KERAS_BACKEND", "MLFLOW_TRACKING_URI")}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "stages.predict", *args], cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"error: predict in {folder} failed: {result.stderr.strip()[-500:]}")
    return seconds, result.stdout + result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--before", default="20aa775", help="the earlier commit (default: before the cold-start work)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reviews", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imdb-cold-") as scratch:
        sides = {"before": side(Path(scratch) / "before", args.before, args.project.resolve()),
                 "after": side(Path(scratch) / "after", None, args.project.resolve())}
        texts = pd.read_parquet(args.project / "data/split/test.parquet", columns=["text"])["text"].head(args.reviews)
        reviews = Path(scratch) / "reviews.txt"
        reviews.write_text("\n".join(" ".join(text.split()[:30]) for text in texts) + "\n", encoding="utf-8")
        one = {name: [] for name in sides}
        many = {name: [] for name in sides}
        outputs = {}
        for _ in range(args.runs):
            for name, folder in sides.items():
                seconds, outputs[name] = timed(folder, REVIEW)
                one[name].append(seconds)
        for name, folder in sides.items():
            many[name].append(timed(folder, "--file", str(reviews))[0])
    for name in sides:
        print(f"{name:6} one review: median {statistics.median(one[name]):.2f} s of {[round(s, 2) for s in one[name]]}; "
              f"{args.reviews:,} short reviews: {many[name][0]:.2f} s")
        print(f"       output: {outputs[name].strip()[:300]}")
    print(f"speed-up, one review: {statistics.median(one['before']) / statistics.median(one['after']):.2f}x; "
          f"{args.reviews:,} reviews: {many['before'][0] / many['after'][0]:.2f}x; load average {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()

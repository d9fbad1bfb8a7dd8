"""Benchmark: the train stage with bucketed batches (train.buckets: 6) against full-length batches
(train.buckets: 0), side by side on the same data, for a preset whose model masks padding.

    IMDB_ARCHIVE=/path/to/aclImdb_v1.tar.gz python -m benchmarks.bucketing --preset best --epochs 2

In a scratch copy of the project with the preset applied it runs `dvc repro pad`, then alternates
full / bucketed runs of the train stage's own command (`--repeats` pairs, each its own process) and
prints seconds per epoch (compilation included in the first; later epochs separately), their ratio,
validation accuracy and peak memory. Not part of the test suite: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from ruamel.yaml import YAML

from benchmarks.bench import GIB, ROOT, epoch_seconds, helpers, load, make_project, measured


def train_run(project: Path, buckets: int, log: Path) -> dict:
    helpers.edit_params(project / "params.yaml", {"train": {"buckets": buckets}})
    load_before = load()
    wall, cpu, rss = measured(helpers.stage_cmd(project, "train"), project, log)
    summary = json.loads((project / "metrics" / "train.json").read_text())
    return {
        "buckets": buckets,
        "epoch_seconds": epoch_seconds(project, summary),
        "val_accuracy": summary["val_accuracy"],
        "process_seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss": rss,
        "load": load_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="best", help="presets/<name>.yaml (default best)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="full/bucketed pairs, alternated")
    parser.add_argument("--workdir", type=Path, help="keep the scratch project here (default: a temp dir)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="imdb-bucketing-"))
    project, logs = workdir / "project", workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    preset = YAML(typ="safe", pure=True).load((ROOT / "presets" / f"{args.preset}.yaml").read_text())
    changes = {f"{section}.{key}": value for section, values in preset.items() for key, value in values.items()}
    make_project(project, {**changes, "train.epochs": args.epochs, "train.early_stopping": 0})
    print(
        f"scratch project {project}; preset {args.preset}, {args.epochs} epochs; load {load():.1f} (2 cores)",
        flush=True,
    )
    data_seconds, _, _ = measured(["dvc", "repro", "pad"], project, logs / "data.log")
    print(f"fetch + split + pad: {data_seconds:.0f} s", flush=True)

    runs = []
    for repeat in range(1, args.repeats + 1):
        for buckets in (0, 6):
            result = train_run(project, buckets, logs / f"train_{buckets}_{repeat}.log")
            runs.append(result)
            print(
                f"  buckets={buckets}: epochs {result['epoch_seconds']} s  val_accuracy {result['val_accuracy']:.4f}  "
                f"process {result['process_seconds']:.0f} s  peak RSS {result['peak_rss'] / GIB:.2f} GiB  "
                f"load {result['load']:.1f}",
                flush=True,
            )

    def per_epoch(buckets: int) -> tuple[float, float]:
        chosen = [r["epoch_seconds"] for r in runs if r["buckets"] == buckets]
        later = [s for seconds in chosen for s in seconds[1:]] or [s for seconds in chosen for s in seconds]
        return statistics.median(sum(s) / len(s) for s in chosen), statistics.median(later)

    (full, full_later), (bucketed, bucketed_later) = per_epoch(0), per_epoch(6)
    val = {b: statistics.median(r["val_accuracy"] for r in runs if r["buckets"] == b) for b in (0, 6)}
    print(
        f"\nfull length: {full:.1f} s/epoch (later epochs {full_later:.1f}); bucketed: {bucketed:.1f} s/epoch "
        f"(later epochs {bucketed_later:.1f})"
    )
    print(
        f"speed-up: {full / bucketed:.2f}x (later epochs {full_later / bucketed_later:.2f}x); validation accuracy "
        f"{val[0]:.4f} -> {val[6]:.4f} ({100 * (val[6] - val[0]):+.2f} points); peak RSS "
        f"{max(r['peak_rss'] for r in runs if r['buckets'] == 0) / GIB:.2f} -> "
        f"{max(r['peak_rss'] for r in runs if r['buckets'] == 6) / GIB:.2f} GiB"
    )


if __name__ == "__main__":
    sys.exit(main())

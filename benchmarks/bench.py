"""Benchmark: the train stage against a bare Keras fit, the data stages, a no-op `dvc repro`.

    IMDB_ARCHIVE=/path/to/aclImdb_v1.tar.gz make bench      # or: python -m benchmarks.bench

In a scratch copy of the project (git + DVC, default params, its own MLflow store) it
1. times `dvc repro pad` (fetch from IMDB_ARCHIVE + split + pad, the real 50,000 reviews);
2. alternates bare / project / bare / project (`--repeats`), each in its own process for
   `--epochs` epochs: benchmarks/bare_fit.py (Keras defaults, TensorFlow backend) and the train
   stage's own command from dvc.yaml, and reports seconds per epoch, their ratio, validation accuracy
   and each process's peak resident memory;
3. runs the rest of the pipeline, then times `dvc repro` with nothing to do (median of `--noop-runs`).
Not part of the test suite: its figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ruamel.yaml import YAML

from imdb_rnn.runtime.errors import PipelineError
from tests import helpers

ROOT = Path(__file__).resolve().parents[1]

BIN = Path(sys.executable).parent
TARGETS = {"speed-up": 4.0, "data_seconds": 30.0, "noop_seconds": 1.5, "train_rss_gib": 2.0, "val_points": 1.0}
GIB = 1 << 30


def environment() -> dict[str, str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1")
    for name in ("MLFLOW_TRACKING_URI", "KERAS_BACKEND"):  # the scratch project's own store and params
        env.pop(name, None)
    return env


def measured(args: list[str], cwd: Path, log: Path) -> tuple[float, float, int]:
    """Run a command; (wall seconds, CPU seconds, peak resident bytes), its children included. Output goes to `log`.
    CPU seconds (user + system) tell what the wall time would be on an idle core, whatever the load."""
    start = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(args, cwd=cwd, env=environment(), stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"error: {shlex.join(args)} exited {process.returncode}; see {log}:\n{log.read_text()[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024  # Linux reports KiB


def make_project(dest: Path, changes: dict[str, object]) -> Path:
    """A scratch git + DVC copy of the project with `changes` ({'train.epochs': 2}) applied to params.yaml."""
    nested: dict[str, dict[str, object]] = {}
    for key, value in changes.items():
        section, name = key.split(".", 1)
        nested.setdefault(section, {})[name] = value
    try:
        return helpers.make_project(dest, nested)
    except PipelineError as exc:
        sys.exit(f"error: --set: {exc}")


def parse_set(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or "." not in key:
        raise argparse.ArgumentTypeError(f"expected section.key=value, got {text!r}")
    return key, YAML(typ="safe", pure=True).load(value)


def load() -> float:
    return os.getloadavg()[0]


def bare_fit(project: Path, epochs: int, log_dir: Path, run: int) -> dict:
    result_file = log_dir / f"bare_{run}.json"
    load_before = load()
    wall, _, rss = measured(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bare_fit.py"),
            "data/padded",
            "--epochs",
            str(epochs),
            "--json",
            str(result_file),
        ],
        project,
        log_dir / f"bare_{run}.log",
    )
    result = json.loads(result_file.read_text())
    return {
        "side": "bare",
        "run": run,
        "epoch_seconds": result["epoch_seconds"],
        "val_accuracy": result["val_accuracy"][-1],
        "process_seconds": wall,
        "peak_rss": rss,
        "load": load_before,
    }


def project_fit(project: Path, log_dir: Path, run: int) -> dict:
    """The train stage exactly as `dvc repro` runs it (its cmd from dvc.yaml), outside DVC so it runs every time."""
    load_before = load()
    wall, _, rss = measured(helpers.stage_cmd(project, "train"), project, log_dir / f"project_{run}.log")
    summary = json.loads((project / "metrics" / "train.json").read_text())
    return {
        "side": "project",
        "run": run,
        "epoch_seconds": epoch_seconds(project, summary),
        "val_accuracy": summary["last_epoch_val_accuracy"],  # as the bare side: its last epoch
        "process_seconds": wall,
        "peak_rss": rss,
        "load": load_before,
    }


def epoch_seconds(project: Path, summary: dict) -> list[float]:
    """Per-epoch seconds the train stage logged to MLflow (step = epoch)."""
    from mlflow import MlflowClient

    run_id = json.loads((project / "models" / "mlflow_run.json").read_text())["run_id"]
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    history = sorted(client.get_metric_history(run_id, "epoch_seconds"), key=lambda m: m.step)
    return [round(m.value, 3) for m in history] or [summary["seconds_per_epoch"]] * summary["epochs"]


def per_epoch(runs: list[dict]) -> tuple[float, float | None]:
    """(mean seconds per epoch, first epoch and its compile included; median of the later epochs), over runs."""
    mean = statistics.median(sum(r["epoch_seconds"]) / len(r["epoch_seconds"]) for r in runs)
    later = [s for r in runs for s in r["epoch_seconds"][1:]]
    return mean, (statistics.median(later) if later else None)


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each fit (default 2)")
    parser.add_argument("--repeats", type=int, default=2, help="bare/project pairs, alternated (default 2)")
    parser.add_argument("--noop-runs", type=int, default=5, help="no-op `dvc repro` runs (default 5)")
    parser.add_argument(
        "--set",
        type=parse_set,
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="change a param of the scratch project, e.g. --set train.backend=tensorflow",
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep the scratch project and logs here (default: a temp dir, removed)"
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    if not os.environ.get("IMDB_ARCHIVE"):
        print("note: IMDB_ARCHIVE is not set, so fetch downloads the archive and its time includes the download")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="imdb-bench-"))
    project, log_dir = workdir / "project", workdir / "logs"
    if project.exists():
        sys.exit(f"error: {project} exists; give --workdir a new folder")
    project.mkdir(parents=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    changes = {"train.epochs": args.epochs, **dict(args.set)}
    make_project(project, changes)
    params = YAML(typ="safe", pure=True).load((project / "params.yaml").read_text())
    print(f"scratch project {project}; params changed: {changes}; load average {load():.1f} (2 cores here)", flush=True)

    data_seconds, data_cpu, _ = measured(["dvc", "repro", "pad"], project, log_dir / "data.log")
    print(f"fetch + split + pad (`dvc repro pad`): {data_seconds:.1f} s ({data_cpu:.1f} CPU s)", flush=True)

    runs = []
    for run in range(1, args.repeats + 1):
        for result in (bare_fit(project, args.epochs, log_dir, run), project_fit(project, log_dir, run)):
            runs.append(result)
            print(
                f"  run {run} {result['side']:7}  epochs {result['epoch_seconds']} s  val_accuracy "
                f"{result['val_accuracy']:.4f}  process {result['process_seconds']:.1f} s  "
                f"peak RSS {result['peak_rss'] / GIB:.2f} GiB  load {result['load']:.1f}",
                flush=True,
            )

    subprocess.run(["dvc", "repro"], cwd=project, env=environment(), check=True, capture_output=True)
    noop, noop_cpu = [], []
    for run in range(1, args.noop_runs + 1):
        seconds, cpu, _ = measured(["dvc", "repro"], project, log_dir / f"noop_{run}.log")
        noop.append(seconds)
        noop_cpu.append(cpu)
        if "Running stage" in (log_dir / f"noop_{run}.log").read_text():
            sys.exit(f"error: `dvc repro` was not a no-op; see {log_dir / f'noop_{run}.log'}")

    bare = [r for r in runs if r["side"] == "bare"]
    ours = [r for r in runs if r["side"] == "project"]
    bare_mean, bare_later = per_epoch(bare)
    ours_mean, ours_later = per_epoch(ours)
    speedup = bare_mean / ours_mean
    val_points = 100 * (
        statistics.median(r["val_accuracy"] for r in ours) - statistics.median(r["val_accuracy"] for r in bare)
    )
    train_rss = max(r["peak_rss"] for r in ours)
    noop_median = statistics.median(noop)
    rows = int(params["split"]["train_size"])
    print()
    print(
        f"train, {args.epochs} epochs of {rows:,} reviews, batch {params['train']['batch_size']}, "
        f"max_len {params['pad']['max_len']}, {args.repeats} alternated runs each:"
    )
    ours_label = f"train stage (train.backend={params['train']['backend']}):"
    print(
        f"  {'bare Keras fit (TensorFlow, defaults):':40} {bare_mean:6.2f} s/epoch"
        + (f" (later epochs {bare_later:.2f})" if bare_later else "")
    )
    print(f"  {ours_label:40} {ours_mean:6.2f} s/epoch" + (f" (later epochs {ours_later:.2f})" if ours_later else ""))
    print(
        f"  speed-up: {speedup:.1f}x"
        + (f" (later epochs {bare_later / ours_later:.1f}x)" if bare_later else "")
        + f"  {verdict(speedup >= TARGETS['speed-up'])} (>= {TARGETS['speed-up']:g}x)"
    )
    print(
        f"  validation accuracy: bare {statistics.median(r['val_accuracy'] for r in bare):.4f}, "
        f"train stage {statistics.median(r['val_accuracy'] for r in ours):.4f} ({val_points:+.1f} points)  "
        f"{verdict(abs(val_points) <= TARGETS['val_points'])} (within {TARGETS['val_points']:g} point)"
    )
    print(
        f"fetch + split + pad: {data_seconds:.1f} s ({data_cpu:.1f} CPU s)  "
        f"{verdict(data_seconds <= TARGETS['data_seconds'])} "
        f"(<= {TARGETS['data_seconds']:g} s)"
    )
    print(
        f"no-op `dvc repro`: median {noop_median:.2f} s of {[round(s, 2) for s in noop]} "
        f"({statistics.median(noop_cpu):.2f} CPU s)  "
        f"{verdict(noop_median <= TARGETS['noop_seconds'])} (<= {TARGETS['noop_seconds']:g} s)"
    )
    print(
        f"train stage peak RSS: {train_rss / GIB:.2f} GiB (bare fit {max(r['peak_rss'] for r in bare) / GIB:.2f})  "
        f"{verdict(train_rss <= TARGETS['train_rss_gib'] * GIB)} (<= {TARGETS['train_rss_gib']:g} GiB)"
    )
    print(f"load average now {load():.1f}")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "changes": changes,
                    "runs": runs,
                    "data_seconds": data_seconds,
                    "data_cpu_seconds": data_cpu,
                    "noop_seconds": noop,
                    "noop_cpu_seconds": noop_cpu,
                    "bare_seconds_per_epoch": bare_mean,
                    "project_seconds_per_epoch": ours_mean,
                    "speedup": speedup,
                    "val_accuracy_points": val_points,
                    "train_peak_rss": train_rss,
                },
                indent=2,
            )
            + "\n"
        )
    if not args.workdir:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()

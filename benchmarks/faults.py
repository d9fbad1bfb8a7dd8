"""Benchmark: how quickly a stage stops when interrupted, and gives up on an MLflow store it cannot use.

    python -m benchmarks.faults --project PATH      # PATH: a project after `dvc repro` (data/padded, models/)

In a scratch copy of PATH (stages, params, data/padded, models, its MLflow store) it times, from the
fault to the stage's exit:
1. SIGINT, then SIGTERM, sent to the train stage's own command once its first epoch is logged;
2. the evaluate stage against the store held under an exclusive SQLite lock by another process;
3. the evaluate stage against a tracking URI where nothing listens.
Not part of the test suite (tests/integration/test_faults.py checks the behaviour): the figures depend on the
machine and its load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers import stage_cmd

ROOT = Path(__file__).resolve().parents[1]

BIN = Path(sys.executable).parent
COPIED = ["stages", "dvc.yaml", "params.yaml", "data/padded", "models", "mlflow.db", "mlartifacts"]


def environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra)
    if "MLFLOW_TRACKING_URI" not in extra:
        env.pop("MLFLOW_TRACKING_URI", None)  # the scratch copy's own store
    return env


def first_epoch_logged(store: Path, since_ms: int) -> bool:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        query = (
            "SELECT count(*) FROM runs JOIN metrics ON metrics.run_uuid = runs.run_uuid"
            " WHERE status = 'RUNNING' AND start_time >= ?"
        )
        return db.execute(query, (since_ms,)).fetchone()[0] > 0


def time_interrupt(project: Path, signum: signal.Signals) -> float:
    started_ms = int(time.time() * 1000)
    process = subprocess.Popen(
        stage_cmd(project, "train"),
        cwd=project,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not first_epoch_logged(project / "mlflow.db", started_ms):
        if process.poll() is not None:
            sys.exit(
                f"error: train exited {process.returncode} before its first epoch:\n{process.stderr.read()[-2000:]}"
            )
        time.sleep(0.2)
    start = time.perf_counter()
    process.send_signal(signum)
    process.wait()
    return time.perf_counter() - start


def time_failure(project: Path, **env: str) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(
        stage_cmd(project, "evaluate"), cwd=project, env=environment(**env), capture_output=True, text=True
    )
    return time.perf_counter() - start, result.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a project after `dvc repro`")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        project = Path(tmp)
        for name in COPIED:
            source = args.project / name
            if not source.exists():
                sys.exit(f"error: {source}: missing; run `dvc repro` in {args.project} first")
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, project / name)

        for signum in (signal.SIGINT, signal.SIGTERM):
            print(f"train stops {time_interrupt(project, signum):.2f} s after {signum.name}")

        holder = sqlite3.connect(project / "mlflow.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        seconds, line = time_failure(project)
        holder.close()
        print(f"evaluate gives up on a locked store after {seconds:.1f} s: {line}")

        with socket.create_server(("127.0.0.1", 0)) as probe:
            port = probe.getsockname()[1]
        seconds, line = time_failure(project, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{port}")
        print(f"evaluate gives up on an unreachable server after {seconds:.1f} s: {line}")


if __name__ == "__main__":
    main()

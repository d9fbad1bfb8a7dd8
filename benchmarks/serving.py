"""Benchmark: the registered model under `mlflow models serve` on 127.0.0.1 at a steady request rate —
open loop (each request sent at its scheduled time, whether or not earlier ones were answered), one
short review per request, a new connection per request; latency percentiles and errors.

    python -m benchmarks.serving [--project .] [--rate 100] [--duration 60] [--model-uri URI]

PATH is a project after `make repro` (its mlflow.db holds the registered model; data/split/test.parquet
gives the reviews: the first 30 words of test reviews). A request's latency counts from its scheduled
time (a client that falls behind is not hidden). Every request goes to 127.0.0.1 only; the loop sends
exactly rate x duration requests, each with a 10 s timeout. Prints the load average before and after:
on a shared machine the figures are only as good as it is quiet. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from tests.helpers import Server

TIMEOUT_S = 10
WARM_UP = 20  # requests before the clock starts: Keras builds its predict function on the first


def post(port: int, body: bytes) -> int:
    """One request on a connection of its own; the status (0 for no answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()


def open_loop(port: int, bodies: list[bytes], rate: float, duration: float) -> tuple[np.ndarray, list[int]]:
    """rate x duration requests, request i sent at start + i / rate; (latencies in s, statuses)."""
    count = int(rate * duration)
    latencies, statuses = np.full(count, np.nan), [0] * count
    start = time.perf_counter() + 0.5

    def send(index: int) -> None:
        statuses[index] = post(port, bodies[index % len(bodies)])
        latencies[index] = time.perf_counter() - (start + index / rate)

    with ThreadPoolExecutor(max_workers=64) as pool:
        for index in range(count):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, index)
    return latencies, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--model-uri", default="models:/imdb-sentiment-rnn@champion")
    parser.add_argument("--rate", type=float, default=100, help="requests per second")
    parser.add_argument("--duration", type=float, default=60, help="seconds")
    args = parser.parse_args()
    project = args.project.resolve()
    texts = pd.read_parquet(project / "data/split/test.parquet", columns=["text"])["text"].head(1000)
    bodies = [json.dumps({"dataframe_records": [{"text": " ".join(text.split()[:30])}]}).encode() for text in texts]
    with tempfile.TemporaryDirectory(prefix="imdb-serve-") as scratch:
        server = Server(
            ["mlflow", "models", "serve", "-m", args.model_uri, "--env-manager", "local"],
            cwd=project,
            log=Path(scratch) / "serve.log",
            ready_path="/ping",
            timeout=300,
            MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}",
        )
        try:
            for body in bodies[:WARM_UP]:
                assert post(server.port, body) == 200, (Path(scratch) / "serve.log").read_text()[-2000:]
            load_before = os.getloadavg()
            latencies, statuses = open_loop(server.port, bodies, args.rate, args.duration)
            load_after = os.getloadavg()
        finally:
            server.stop()
    answered = np.array(statuses) == 200
    ms = latencies[answered] * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99]) if len(ms) else (np.nan,) * 3
    print(
        f"{args.model_uri}: {args.rate:g} requests/s for {args.duration:g} s, open loop, a new connection each, "
        f"127.0.0.1 ({threading.active_count()} client threads left)"
    )
    print(
        f"{len(statuses)} sent, {int(answered.sum())} answered 200, {int((~answered).sum())} errors; "
        f"latency p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max {np.max(ms, initial=0):.1f} ms; "
        f"over 100 ms: {int((ms > 100).sum())}"
    )
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
        f"(1 min; {os.cpu_count()} CPUs); {time.strftime('%Y-%m-%d %H:%M %Z')}"
    )


if __name__ == "__main__":
    main()

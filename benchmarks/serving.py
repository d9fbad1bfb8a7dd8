"""Benchmark: the registered model under `mlflow models serve` on 127.0.0.1 — latency of one short
review (p50/p99 over sequential requests) and throughput with batches of 1,000 reviews.

    python -m benchmarks.serving --project PATH [--requests 200] [--batches 10] [--model-uri URI]

PATH is a project after `make repro` (its mlflow.db holds the registered model; data/split/test.parquet
gives the reviews: the first 30 words of test reviews). Every request goes to 127.0.0.1 only; the
loops are bounded in count and by --budget seconds. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from tests.helpers import Server

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--model-uri", default="models:/imdb-sentiment-rnn@champion")
    parser.add_argument("--requests", type=int, default=200, help="sequential one-review requests")
    parser.add_argument("--batches", type=int, default=10, help="requests of 1,000 reviews each")
    parser.add_argument("--budget", type=float, default=300, help="stop each loop after this many seconds")
    args = parser.parse_args()
    project = args.project.resolve()
    texts = pd.read_parquet(project / "data/split/test.parquet", columns=["text"])["text"].head(1000)
    short = [" ".join(text.split()[:30]) for text in texts]
    with tempfile.TemporaryDirectory(prefix="imdb-serve-") as scratch:
        started = time.perf_counter()
        server = Server(
            ["mlflow", "models", "serve", "-m", args.model_uri, "--env-manager", "local"],
            cwd=project,
            log=Path(scratch) / "serve.log",
            ready_path="/ping",
            timeout=300,
            MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}",
        )
        ready = time.perf_counter() - started
        try:
            url = server.url + "/invocations"
            with requests.Session() as session:
                session.post(
                    url, json={"dataframe_records": [{"text": short[0]}]}, timeout=60
                ).raise_for_status()  # warm-up
                latencies, deadline = [], time.monotonic() + args.budget
                for index in range(args.requests):
                    if time.monotonic() > deadline:
                        break
                    begin = time.perf_counter()
                    session.post(
                        url, json={"dataframe_records": [{"text": short[index % len(short)]}]}, timeout=60
                    ).raise_for_status()
                    latencies.append(time.perf_counter() - begin)
                batch_seconds, deadline = [], time.monotonic() + args.budget
                payload = {"dataframe_records": [{"text": text} for text in short]}
                for _ in range(args.batches):
                    if time.monotonic() > deadline:
                        break
                    begin = time.perf_counter()
                    response = session.post(url, json=payload, timeout=120)
                    response.raise_for_status()
                    batch_seconds.append(time.perf_counter() - begin)
                    assert len(response.json()["predictions"]) == len(short)
        finally:
            server.stop()
    milliseconds = np.array(latencies) * 1000
    print(f"server ready after {ready:.1f} s ({args.model_uri})")
    print(
        f"one short review, {len(latencies)} sequential requests: p50 {np.percentile(milliseconds, 50):.1f} ms, "
        f"p99 {np.percentile(milliseconds, 99):.1f} ms, max {milliseconds.max():.1f} ms"
    )
    print(
        f"batches of {len(short):,}: {len(batch_seconds)} requests, median {statistics.median(batch_seconds):.2f} s, "
        f"{len(short) / statistics.median(batch_seconds):,.0f} reviews/s; "
        f"load average {os.getloadavg()[0]:.1f} (2 cores)"
    )


if __name__ == "__main__":
    main()

"""Wall time of `python -m imdb_rnn.cli.predict --file` on 10,000 short reviews, start-up included.

Run in a project after `make repro` (it uses models/model.keras, data/padded/vocab.json and, for the
reviews, data/split/test.parquet):

    python benchmarks/predict_10k.py [--reviews 10000] [--words 30] [--repeats 3] [--model-uri URI]

The reviews are the first `--words` words of official test reviews, one per line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=10_000)
    parser.add_argument("--words", type=int, default=30, help="words kept of each review")
    parser.add_argument("--repeats", type=int, default=3, help="runs; the median is reported")
    parser.add_argument("--model-uri", help="time an MLflow model instead of the pipeline's files")
    args = parser.parse_args()

    texts = pd.read_parquet("data/split/test.parquet", columns=["text"])["text"].head(args.reviews)
    lines = [" ".join(text.split()[: args.words]) for text in texts]
    command = [sys.executable, "-m", "imdb_rnn.cli.predict"]
    if args.model_uri:
        command += ["--model-uri", args.model_uri]
    timings = []
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "reviews.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = subprocess.run([*command, "--file", str(path)], capture_output=True, text=True)
            timings.append(time.perf_counter() - started)
            if result.returncode != 0:
                sys.exit(f"predict failed: {result.stderr.strip().splitlines()[-1]}")
            if len(result.stdout.splitlines()) != len(lines):
                sys.exit(f"predict printed {len(result.stdout.splitlines())} lines for {len(lines)} reviews")
    words = sum(len(line.split()) for line in lines) / len(lines)
    median = statistics.median(timings)
    print(
        f"{len(lines):,} reviews ({words:.1f} words on average), model {args.model_uri or 'models/model.keras'}: "
        f"{median:.1f} s wall (median of {', '.join(f'{t:.1f}' for t in timings)}), "
        f"{len(lines) / median:,.0f} reviews/s, load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()

"""What the lock in SentimentClassifier.predict costs: one-review predictions with the lock (the
classifier) against the same Keras call without it, alternated so that load on the machine hits both.

Run in a project after `make repro` (models/model.keras, data/padded/vocab.json):

    python -m benchmarks.predict_lock [--calls 300] [--threads 1]

With --threads N > 1, N threads call the classifier at once (the lock serializes them) and the
bare Keras call is made from one thread only (from several it is not safe on JAX).
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from imdb_rnn.data.text import texts_to_padded
from imdb_rnn.runtime.params import load_params
from imdb_rnn.serving.classifier import SentimentClassifier

REVIEW = "A wonderful film, I loved it: moving, funny and beautifully acted."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    params = load_params()
    classifier = SentimentClassifier.from_files("models/model.keras", "data/padded/vocab.json", params.train.backend)
    x = texts_to_padded([REVIEW], classifier.vocabulary)
    classifier.predict([REVIEW])  # build the predict function once, outside the timings

    bare, locked, acquire = [], [], []
    for _ in range(args.calls):
        start = time.perf_counter()
        classifier.model.predict(x, batch_size=classifier.batch_size, verbose=0)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        classifier.predict([REVIEW])
        locked.append(time.perf_counter() - start)
        start = time.perf_counter()
        with classifier._lock:
            pass
        acquire.append(time.perf_counter() - start)
    ms = lambda values: f"{statistics.median(values) * 1e3:.3f} ms"  # noqa: E731
    print(
        f"median of {args.calls} one-review calls: Keras predict {ms(bare)}, classifier.predict (lock, "
        f"preprocessing, DataFrame) {ms(locked)}; "
        f"an uncontended lock acquire+release {statistics.median(acquire) * 1e6:.2f} us"
    )
    if args.threads > 1:
        start = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(lambda _: classifier.predict([REVIEW]), range(args.calls)))
        threaded = time.perf_counter() - start
        print(
            f"{args.calls} calls from {args.threads} threads: {threaded / args.calls * 1e3:.3f} ms per call "
            f"(one thread, sequential: {ms(locked)})"
        )


if __name__ == "__main__":
    main()

"""The pretraining's speed beside the classifier's, in one run, on the pipeline's own data and params.

    python -m benchmarks.pretrain_speed [--steps 40] [--reviews 3000] [--json out.json]

Reads params.yaml (pretrain and train sections), data/padded (train.npz, vocab.json) and
data/unlabeled. Pretraining: `--steps` steps of imdb_rnn.models.pretraining's fit (after two to compile) on
the corpus the pretrain stage builds: terms (tokens) per second and minutes per pass over it.
Classifier: build_model(train params) fit for two epochs on `--reviews` reviews of the same data
(bucketed as train does), once as `train.init: none` / `pretrained` build it and once as `region`
(the frozen pretrained GRUs beside its own embedding: what the pretraining adds to every epoch);
the second epoch's seconds, scaled to the whole training set, give the minutes per epoch
(validation left out). Prints them and their ratios.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from imdb_rnn.runtime.devices import use_backend
from imdb_rnn.runtime.params import load_params


def pretraining_speed(params, x, vocabulary, steps: int) -> dict:
    from imdb_rnn.data import corpus as pretraining_corpus
    from imdb_rnn.models import pretraining

    settings = params.pretrain.model_copy(update={"method": "region"})
    model = pretraining.region_model(len(vocabulary), settings)
    data = pretraining_corpus.chunk_batches(x, vocabulary, settings)
    steps = min(steps, len(data))
    model.fit(data, steps_per_epoch=2, shuffle=False, verbose=0)  # compile
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, shuffle=False, verbose=0)
    seconds = time.perf_counter() - start
    tokens = int(data.tokens[:steps].sum())
    speed = tokens / seconds
    return {
        "tokens_per_second": speed,
        "corpus_terms": data.terms,
        "minutes_per_pass": data.terms / speed / 60,
        "steps": steps,
        "batch_size": settings.batch_size,
        "chunk": settings.chunk,
    }


def classifier_speed(params, x, y, vocabulary, reviews: int, init: str) -> dict:
    import numpy as np

    from imdb_rnn.data import batches
    from imdb_rnn.models.rnn import build_model

    # The weights' values do not change the speed: the frozen region layers keep their random init here.
    train = params.train.model_copy(update={"init": init, "epochs": 2, "early_stopping": 0})
    model = build_model(train, len(vocabulary), None)
    picked = np.random.default_rng(0).permutation(len(x))[:reviews]
    seconds = []
    for epoch in range(2):
        data = batches.training_batches(
            x[picked], y[picked], train.batch_size, vocabulary.padding, epoch, shuffle=True, buckets=train.buckets
        )
        start = time.perf_counter()
        model.fit(data, epochs=1, verbose=0)
        seconds.append(time.perf_counter() - start)
    per_epoch = seconds[1] * len(x) / reviews
    return {
        "minutes_per_epoch": per_epoch / 60,
        "reviews_per_epoch": len(x),
        "timed_reviews": reviews,
        "batch_size": train.batch_size,
        "epochs": params.train.epochs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/padded"))
    parser.add_argument("--unlabeled", type=Path, default=Path("data/unlabeled"))
    parser.add_argument("--steps", type=int, default=40, help="pretraining steps timed")
    parser.add_argument("--reviews", type=int, default=3000, help="reviews the classifier's second epoch is timed on")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    params = load_params()
    use_backend("jax", params.train.seed)
    import numpy as np

    from imdb_rnn.data.corpus import token_ids
    from imdb_rnn.data.splits import TrainingData

    data = TrainingData.load(args.data, args.unlabeled, params.train.unlabeled_weight)
    vocabulary = data.vocabulary
    pretrain = pretraining_speed(
        params, token_ids(args.data / "train.npz", args.unlabeled, params.pretrain.limit), vocabulary, args.steps
    )
    x, y = data.x, np.asarray(data.y, "float32")
    classifier = classifier_speed(params, x, y, vocabulary, args.reviews, "none")
    region = classifier_speed(params, x, y, vocabulary, args.reviews, "region")
    result = {
        "pretrain": pretrain,
        "classifier": classifier,
        "classifier_region": region,
        "pass_per_epoch": pretrain["minutes_per_pass"] / classifier["minutes_per_epoch"],
        "region_epoch_ratio": region["minutes_per_epoch"] / classifier["minutes_per_epoch"],
    }
    print(
        f"pretrain:   {pretrain['tokens_per_second']:,.0f} tokens/s, {pretrain['minutes_per_pass']:.1f} min per pass "
        f"over {pretrain['corpus_terms']:,} terms (batch {pretrain['batch_size']} x {pretrain['chunk']} steps)"
    )
    print(
        f"classifier: {classifier['minutes_per_epoch']:.1f} min per epoch "
        f"over {classifier['reviews_per_epoch']:,} reviews "
        f"(batch {classifier['batch_size']}; timed on {classifier['timed_reviews']:,})"
    )
    print(
        f"classifier with train.init region: {region['minutes_per_epoch']:.1f} min per epoch "
        f"= {result['region_epoch_ratio']:.2f} x the plain classifier's"
    )
    print(f"one pretraining pass = {result['pass_per_epoch']:.2f} classifier epochs")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""predict: label raw reviews with the pipeline's model -> one JSON object per review, in order.

Reviews as arguments, in --file (one per line) or on standard input; without --model-uri the workspace's
last trained model answers, not necessarily the served champion: stderr names it (docs/serving.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from imdb_rnn.data.text import review_problem
from imdb_rnn.runtime.errors import PipelineError, read_bounded, run
from imdb_rnn.runtime.params import load_params

DEFAULT_MODEL = Path("models/model.keras")
DEFAULT_VOCABULARY = Path("data/padded/vocab.json")
# About 50,000 reviews of IMDB's average length: /dev/zero or an endless pipe is refused at this size,
# not read until the kernel kills the process (22 GB).
MAX_INPUT_BYTES = 64 << 20


def parse_lines(data: bytes, source: str) -> list[str]:
    """One review per line (a final newline is optional); an empty line or bytes that are not
    UTF-8 are refused, naming the line, rather than guessed at."""
    lines = data.removesuffix(b"\n").split(b"\n") if data else []
    reviews = []
    for number, line in enumerate(lines, start=1):
        try:
            text = line.decode("utf-8-sig" if number == 1 else "utf-8").removesuffix("\r")
        except UnicodeDecodeError as exc:
            raise PipelineError(
                f"{source}: line {number}: not valid UTF-8 (byte {line[exc.start]:#04x} at column {exc.start + 1})"
            ) from None
        if problem := review_problem(text):
            raise PipelineError(f"{source}: line {number}: {problem}")
        reviews.append(text)
    if not reviews:
        raise PipelineError(f"{source}: no reviews")
    return reviews


def read_reviews(arguments: list[str], file: Path | None) -> list[str]:
    if arguments and file:
        raise PipelineError("give reviews as arguments or with --file, not both")
    if not arguments:
        source = file or sys.stdin.buffer
        name = str(file or "standard input")
        return parse_lines(read_bounded(source, MAX_INPUT_BYTES, name, "label the reviews in several calls"), name)
    for number, text in enumerate(arguments, start=1):
        if problem := review_problem(text):
            raise PipelineError(f"argument {number}: {problem}")
        try:  # bytes that are not UTF-8 reach sys.argv as lone surrogates (surrogateescape)
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            byte = os.fsencode(text[exc.start])[0]
            raise PipelineError(
                f"argument {number}: not valid UTF-8 (byte {byte:#04x} at character {exc.start + 1})"
            ) from None
    return arguments


def pipeline_classifier(model_path: Path, vocabulary_path: Path, batch_size: int | None):
    """The model and vocabulary the pipeline last produced, with its backend and threshold; and their name."""
    from imdb_rnn.serving.classifier import BATCH_SIZE, SentimentClassifier

    params = load_params()
    for path in (model_path, vocabulary_path):
        if not path.is_file():
            raise PipelineError(f"{path}: not found (run `make repro` first, or pass --model-uri)")
    classifier = SentimentClassifier.from_files(
        model_path, vocabulary_path, params.train.backend, params.evaluate.threshold, batch_size or BATCH_SIZE
    )
    champion = f"models:/{params.mlflow.registered_model_name}@champion"
    return classifier.predict, f"{model_path}, the workspace's last trained (the served one: --model-uri {champion})"


def mlflow_model(uri: str):
    """Any MLflow model URI (models:/name/version, runs:/id/model, a folder) of the raw-text model; and the URI."""
    import pandas as pd

    from imdb_rnn.tracking import registry
    from imdb_rnn.tracking import store as tracking

    tracking.mlflow.set_tracking_uri(tracking.tracking_uri())
    registry.check_model_files(uri)  # a missing version or artifact folder: one line naming it
    # The model brings its own copy of the `imdb_rnn` package (code_paths), which MLflow puts first on
    # sys.path; forget the installed copy, so that the model runs the code it was logged with.
    for name in [name for name in sys.modules if name == "imdb_rnn" or name.startswith("imdb_rnn.")]:
        del sys.modules[name]
    try:
        model = tracking.mlflow.pyfunc.load_model(uri)
    except Exception as exc:  # MlflowException, OSError, or whatever loading the model's code raises
        raise PipelineError(f"{uri}: cannot load the model: {tracking.first_line(exc, limit=None)}") from None
    return (lambda texts: model.predict(pd.DataFrame({"text": texts}))), uri


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reviews", nargs="*", help="reviews to label (default: --file, else standard input)")
    parser.add_argument("--file", type=Path, help="a UTF-8 text file with one review per line")
    parser.add_argument("--model-uri", help="an MLflow model URI to use instead: models:/imdb-sentiment-rnn@champion")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help=f"Keras model (default {DEFAULT_MODEL})")
    parser.add_argument("--vocab", type=Path, default=DEFAULT_VOCABULARY, help=f"default {DEFAULT_VOCABULARY}")
    parser.add_argument("--batch-size", type=positive_int, help="reviews per model call (default: the classifier's)")
    args = parser.parse_args()
    if args.model_uri is not None and not args.model_uri.strip():
        raise PipelineError("--model-uri: empty (give an MLflow model URI, or leave the option out)")
    reviews = read_reviews(args.reviews, args.file)  # bad input fails before the slow imports
    if args.model_uri is not None:
        predict, answering = mlflow_model(args.model_uri)
    else:
        predict, answering = pipeline_classifier(args.model, args.vocab, args.batch_size)
    result = predict(reviews)
    print(f"model: {answering}", file=sys.stderr)  # the workspace's model need not be the served one
    # known_words: a model registered before this column existed does not return it.
    known = result["known_words"] if "known_words" in result else [None] * len(result)
    for label, probability, words in zip(result["label"], result["probability"], known, strict=True):
        row = {"label": int(label), "probability": round(float(probability), 6)}
        print(json.dumps(row if words is None else row | {"known_words": int(words)}))
    blind = [str(number) for number, words in enumerate(known, start=1) if words == 0]
    if blind:  # answered all the same (the label of an empty review), but not silently
        print(
            f"warning: review{'s' if len(blind) > 1 else ''} {', '.join(blind)}: no word the model knows "
            "(known_words 0): the label says nothing about the text",
            file=sys.stderr,
        )


def cli() -> None:  # the console script
    run(main)


if __name__ == "__main__":
    cli()

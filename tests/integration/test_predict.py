"""`imdb-predict` in the reproduced project: raw reviews in, one JSON object per review out;
the pipeline's files and the registered MLflow model give the same answers; bad input is one line."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from imdb_rnn.cli.predict import cli
from tests import helpers

pytestmark = pytest.mark.slow  # run first by make test (tests/conftest.py)

POSITIVE = "A wonderful, beautiful film. Brilliant acting, a great story, I loved it: one of the best movies ever."
NEGATIVE = "Awful. Boring, stupid and badly acted, a terrible waste of time: the worst movie I have ever seen."
REVIEWS = [POSITIVE, NEGATIVE, "It was <br /><br />fine, I suppose!", "Ünïcödé — ça va, 映画"]


def predict(project, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["imdb-predict", *args], cwd=project, env=helpers.command_env(), input=stdin, capture_output=True, timeout=300
    )


def parsed(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


@pytest.fixture(scope="module")
def from_arguments(reproduced) -> list[dict]:
    """The pipeline's model and vocabulary (the defaults) on REVIEWS given as arguments."""
    return parsed(predict(reproduced, *REVIEWS))


def test_arguments_and_file_give_one_object_per_review_in_order(reproduced, from_arguments, tmp_path):
    assert len(from_arguments) == len(REVIEWS)
    for row in from_arguments:
        assert set(row) == {"label", "probability", "known_words"} and 0 <= row["probability"] <= 1
        assert row["label"] == int(row["probability"] >= 0.5)
    assert [row["label"] for row in from_arguments[:2]] == [1, 0]

    reviews = tmp_path / "reviews.txt"
    reviews.write_text("\r\n".join(REVIEWS) + "\r\n", encoding="utf-8")  # CRLF, as an editor may save it
    assert parsed(predict(reproduced, "--file", str(reviews))) == from_arguments


def test_registered_model_from_stdin_matches_the_pipeline_files(reproduced, from_arguments):
    """The registered pyfunc model (raw text -> the pad stage's preprocessing -> Keras) answers exactly
    like the pipeline's own model and vocabulary."""
    from_files = from_arguments
    stdin = "\n".join(REVIEWS).encode()  # no final newline
    result = predict(reproduced, "--model-uri", "models:/imdb-sentiment-rnn@champion", stdin=stdin)
    from_registry = parsed(result)
    assert result.stderr.decode().startswith("model: models:/imdb-sentiment-rnn@champion\n")  # which answered
    assert [row["label"] for row in from_registry] == [row["label"] for row in from_files]
    assert [row["probability"] for row in from_registry] == pytest.approx(
        [row["probability"] for row in from_files], abs=1e-6
    )


def test_registered_model_runs_its_own_bundled_code(reproduced, from_arguments, tmp_path):
    """The logged model carries the `imdb_rnn` modules it was logged with: a checkout whose tokenizer
    has since changed still gets the registered model's answers from --model-uri. The changed
    checkout is a copy of the package run with `python -m` from its folder, so that it comes first
    on sys.path, before the installed package."""
    checkout = tmp_path / "checkout"
    shutil.copytree(
        helpers.ROOT / "src" / "imdb_rnn", checkout / "imdb_rnn", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("params.yaml", "models/model.keras", "data/padded/vocab.json"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(reproduced / name, checkout / name)
    text = checkout / "imdb_rnn" / "data" / "text.py"
    text.write_text(
        text.read_text().replace('"""Lowercase, drop <br /> tags', 'return []\n    """Lowercase, drop <br /> tags')
    )
    env = helpers.command_env(MLFLOW_TRACKING_URI=f"sqlite:///{reproduced / 'mlflow.db'}")

    def changed_checkout(*args: str) -> list[dict]:
        command = [helpers.BIN / "python", "-m", "imdb_rnn.cli.predict", *args, *REVIEWS]
        return parsed(subprocess.run(command, cwd=checkout, env=env, capture_output=True, timeout=300))

    assert {row["known_words"] for row in changed_checkout()} == {0}  # the changed tokenizer is what runs here
    registered = changed_checkout("--model-uri", "models:/imdb-sentiment-rnn@champion")
    assert [row["probability"] for row in registered] == pytest.approx(
        [row["probability"] for row in from_arguments], abs=1e-6
    )


BAD_INPUTS = [
    ([], b"", "standard input: no reviews"),
    ([], b"good film\n\nbad film\n", "standard input: line 2: empty review"),
    ([], b"good film\n   \n", "standard input: line 2: empty review"),
    ([], b"good film\nbad \xff\xfe film\n", "standard input: line 2: not valid UTF-8"),
    (["good film", " "], None, "argument 2: empty review"),
    (["--file", "missing.txt"], None, "missing.txt: cannot read"),
    (["--file", "data"], None, "data: cannot read"),  # a folder
    (["--file", "reviews.txt", "also an argument"], None, "not both"),
    (
        ["--model-uri", "models:/no-such-model/1", "good film"],
        None,
        "models:/no-such-model/1: Registered Model with name=no-such-model not found",
    ),
]


@pytest.mark.parametrize("args, stdin, message", BAD_INPUTS, ids=[message for _, _, message in BAD_INPUTS])
def test_bad_input_is_one_line_and_a_non_zero_exit(reproduced, monkeypatch, capsysbinary, args, stdin, message):
    code, stdout, stderr = helpers.console(cli, args, reproduced, monkeypatch, capsysbinary, stdin=stdin or b"")
    assert code == 1 and stdout == b""
    stderr = stderr.decode()
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], stderr
    assert len(lines) == 1, stderr


def test_missing_model_names_the_file(reproduced, monkeypatch, capsysbinary, tmp_path):
    args = ["--model", str(tmp_path / "model.keras"), "good film"]
    code, _, stderr = helpers.console(cli, args, reproduced, monkeypatch, capsysbinary)
    assert code == 1
    assert stderr.decode().strip().splitlines()[-1] == (
        f"error: {tmp_path / 'model.keras'}: not found (run `make repro` first, or pass --model-uri)"
    )


def test_bigram_vocabulary_trains_and_predicts_like_the_pad_stage(clone):
    """pad.ngrams=2 puts word pairs in the vocabulary and in the sequences; the model (here with
    both dropouts on) trains on them, and predict, reading raw text, gives the probabilities the
    Keras model gives on the pad stage's own arrays: one preprocessing for both."""
    import numpy as np
    import pandas as pd

    project = clone({"pad": {"ngrams": 2}, "train": {"embedding_dropout": 0.2, "output_dropout": 0.3, "clipnorm": 1.0}})
    helpers.sh(["dvc", "repro", "evaluate"], project)
    vocabulary = json.loads((project / "data/padded/vocab.json").read_text())
    assert vocabulary["ngrams"] == 2
    bigram_ids = {index for index, token in enumerate(vocabulary["tokens"]) if " " in token}
    assert "of the" in vocabulary["tokens"] and len(bigram_ids) > 1000
    with np.load(project / "data/padded/val.npz") as padded:
        x = padded["x"][:8]
    assert np.isin(x, list(bigram_ids)).any(axis=1).all()  # every review has known pairs

    texts = pd.read_parquet(project / "data/split/val.parquet")["text"][:8].tolist()
    script = (
        "import sys, numpy as np; from imdb_rnn.models.inference import load_keras_model; "
        "print(*load_keras_model(sys.argv[1]).predict(np.load(sys.argv[2])['x'][:8], verbose=0)[:, 0])"
    )
    from_arrays = helpers.sh(
        ["python", "-c", script, "models/model.keras", "data/padded/val.npz"], project, KERAS_BACKEND="jax"
    ).stdout.split()
    from_text = parsed(predict(project, *texts))
    assert [row["probability"] for row in from_text] == pytest.approx([float(p) for p in from_arrays], abs=1e-5)


def test_a_review_with_no_known_word_is_answered_and_flagged(reproduced):
    result = predict(reproduced, POSITIVE, "<br /><br />!!!", "?! ...")
    rows = parsed(result)
    assert [row["known_words"] > 0 for row in rows] == [True, False, False]
    assert result.stderr.decode().strip().splitlines() == [
        # which model answered: the workspace's may differ from the served champion (issue 30)
        "model: models/model.keras, the workspace's last trained (the served one: "
        "--model-uri models:/imdb-sentiment-rnn@champion)",
        "warning: reviews 2, 3: no word the model knows (known_words 0): the label says nothing about the text",
    ]

"""imdb_rnn.serving.pyfunc: a real MLflow pyfunc model of a tiny Keras model, scored through MLflow's
own scoring server handler (`invocations`) as `mlflow models serve` runs it."""

from __future__ import annotations

import json

import pytest

from imdb_rnn.data.text import Vocabulary
from imdb_rnn.serving import pyfunc

JSON = "application/json"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(the scoring server module, guarded as in the server, the loaded pyfunc model, its input schema)."""
    import keras
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    from imdb_rnn.tracking import registry

    folder = tmp_path_factory.mktemp("pyfunc")
    vocabulary = Vocabulary(["", "[UNK]", "good", "film"], max_len=4, padding="pre", truncating="pre")
    vocabulary.save(folder / "vocab.json")
    layers = [keras.layers.Embedding(4, 2), keras.layers.SimpleRNN(2), keras.layers.Dense(1)]
    model = keras.Sequential([keras.Input((4,), dtype="int32"), *layers])
    model.save(folder / "model.keras")
    mlflow.pyfunc.save_model(
        folder / "served",
        python_model=pyfunc.__file__,
        artifacts={"model": str(folder / "model.keras"), "vocabulary": str(folder / "vocab.json")},
        model_config={"backend": "jax"},
        signature=registry.SIGNATURE,
        pip_requirements=["mlflow"],  # no inference of requirements (a subprocess)
    )
    original = scoring_server.invocations
    pyfunc.guard_scoring_server(scoring_server)
    try:
        loaded = mlflow.pyfunc.load_model(str(folder / "served"))
        yield scoring_server, loaded, loaded.metadata.get_input_schema()
    finally:
        scoring_server.invocations = original


def answer(served, body: bytes, content_type: str = JSON) -> tuple[int, str]:
    """(status, body) as the server answers: MLflow turns an MlflowException into its JSON, with its status."""
    from mlflow.exceptions import MlflowException

    module, model, schema = served
    try:
        result = module.invocations(body, content_type, model, schema)
    except MlflowException as exc:
        return exc.get_http_status_code(), exc.serialize_as_json()
    return result.status, result.response


def records(*texts: str) -> bytes:
    return json.dumps({"dataframe_records": [{"text": text} for text in texts]}).encode()


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_parsed(served, monkeypatch):
    status, text = answer(served, records("good film") + b" " * 10_000_000)
    assert status == 413 and text.startswith("request body of 10,000,0") and "IMDB_SERVE_MAX_BYTES" in text
    monkeypatch.setenv("IMDB_SERVE_MAX_BYTES", "20")
    assert answer(served, records("good film"))[0] == 413
    monkeypatch.setenv("IMDB_SERVE_MAX_BYTES", "1000")
    assert answer(served, records("good film"))[0] == 200
    monkeypatch.setenv("IMDB_SERVE_MAX_BYTES", "1 MB")
    assert answer(served, records("good film")) == (500, "IMDB_SERVE_MAX_BYTES: expected a number of bytes, got '1 MB'")


def test_an_empty_review_or_body_is_refused_in_one_line(served):
    for body in (records("good film", ""), records("good film", " \n\t")):
        status, text = answer(served, body)
        assert (status, json.loads(text)["message"]) == (400, "row 1: empty review"), text
    for body in (b"", b"  \n"):
        status, text = answer(served, body)
        assert status == 400 and json.loads(text)["message"].startswith("empty request body: expected JSON such as")
    status, text = answer(served, records("good film", "film"))
    assert status == 200 and len(json.loads(text)["predictions"]) == 2


def test_what_the_loaded_model_holds_is_left_out_of_later_garbage_collections(served):
    """A server's full collection walked every object of MLflow, Keras and JAX (~0.5 M, 0.2-1 s): the
    requests arriving meanwhile stalled (p99 141-295 ms at 100 requests/s). Loading freezes them."""
    import gc

    assert gc.get_freeze_count() > 100_000

"""The registered model served by a real `mlflow models serve` on 127.0.0.1: many requests at once,
a request it cannot score, and text with no word it knows."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.integration.test_mlflow_server import MODEL_NAME, NEGATIVE, POSITIVE, Server

CONCURRENT = 50
NO_KNOWN_WORD = "<br /><br />!!! ... ?!"


def test_served_model_answers_concurrent_requests_and_refuses_null_text_in_one_line(reproduced, tmp_path):
    serving = Server(
        ["mlflow", "models", "serve", "-m", f"models:/{MODEL_NAME}@champion", "--env-manager", "local"],
        cwd=reproduced,
        log=tmp_path / "serve.log",
        ready_path="/ping",
        MLFLOW_TRACKING_URI=f"sqlite:///{reproduced / 'mlflow.db'}",
    )
    bodies = [
        {"dataframe_records": [{"text": f"{(POSITIVE, NEGATIVE)[index % 2]} Review {index}."}]}
        for index in range(CONCURRENT)
    ]

    def post(body):
        return requests.post(serving.url + "/invocations", json=body, timeout=120)

    try:
        # All at once, before any other request: Keras builds its predict function on the first
        # call, and on JAX two first calls at once broke the model for every later request.
        with ThreadPoolExecutor(CONCURRENT) as pool:
            concurrent = list(pool.map(post, bodies))
        sequential = [post(body) for body in bodies]
        null = post({"dataframe_records": [{"text": POSITIVE}, {"text": None}]})
        unknown = post({"dataframe_records": [{"text": NO_KNOWN_WORD}, {"text": POSITIVE}]})
        after = post(bodies[0])
    finally:
        serving.stop()
    assert [response.status_code for response in concurrent] == [200] * CONCURRENT, [
        response.text for response in concurrent if response.status_code != 200
    ][:1]
    assert [response.json() for response in concurrent] == [response.json() for response in sequential]
    assert [response.json()["predictions"][0]["label"] for response in concurrent] == [1, 0] * (CONCURRENT // 2)

    # A request the model cannot score: 400, one line naming the row, no stack trace.
    assert null.status_code == 400, null.text
    error = json.loads(null.text)
    assert error["message"] == "row 1: text is null, expected a string", error
    assert "stack_trace" not in error and "Traceback" not in null.text
    assert after.status_code == 200 and after.json() == sequential[0].json()  # and the server is fine

    # Text with no word the model knows is answered, and flagged.
    blind, known = unknown.json()["predictions"]
    assert blind["known_words"] == 0 and known["known_words"] > 5

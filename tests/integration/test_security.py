"""Security: `make ui` listens on 127.0.0.1 only, a password in a failing model URI is not printed, and a
model file cannot run code (tracking credentials that reach no record: test_mlflow_server). A real MLflow
server, a real stage, a real malicious model."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests import helpers
from tests.helpers import BIN, ROOT, sh, stage_cmd
from tests.integration.test_mlflow_server import URI_PASSWORD, URI_USER

pytestmark = pytest.mark.slow  # run first by make test (tests/conftest.py)


def listening_addresses(port: int) -> set[str]:
    """The local addresses of every socket listening on `port`, read from the kernel's tables."""
    addresses = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                raw = bytes.fromhex(address)
                # The kernel prints each 32-bit word in host (little-endian) order.
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                addresses.add(socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, words))
    return addresses


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory):
    """`make ui` as the README runs it, serving a store in a folder of its own; yields (folder, port)."""
    folder = tmp_path_factory.mktemp("ui")
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["make", "-s", "-f", str(ROOT / "Makefile"), "-o", "setup", "ui", f"UI_PORT={port}", f"BIN={BIN}"],
        cwd=folder,
        env=helpers.command_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"make ui did not start: {server.communicate()[1][-2000:]}")
        time.sleep(0.5)
    yield folder, port
    os.killpg(server.pid, signal.SIGTERM)  # make, mlflow and its workers: the group this fixture started
    server.communicate(timeout=60)


def test_make_ui_listens_on_loopback_only(ui_server):
    _, port = ui_server
    assert listening_addresses(port) == {"127.0.0.1"}


# A .keras file whose Lambda layer runs code of the file's author: it writes `marker` when called.
MALICIOUS_MODEL = """
import os, sys
os.environ["KERAS_BACKEND"] = "numpy"
import keras, numpy as np
path, marker = sys.argv[1:]
payload = eval(f"lambda x: (open({marker!r}, 'w').write('ran'), x)[1]")
keras.Sequential([keras.Input(shape=(64,)), keras.layers.Lambda(payload), keras.layers.Dense(1)]).save(path)
os.remove(marker)  # building it ran the payload once
keras.saving.load_model(path, safe_mode=False).predict(np.zeros((1, 64)), verbose=0)
print("unsafe load ran the payload:", os.path.exists(marker))
os.remove(marker)
"""


def test_evaluate_refuses_a_model_that_would_run_code(clone, tmp_path):
    project = clone(keep_mlflow=True)
    model, marker = tmp_path / "evil.keras", tmp_path / "marker"
    assert (
        sh(["python", "-c", MALICIOUS_MODEL, str(model), str(marker)], tmp_path).stdout.strip()
        == "unsafe load ran the payload: True"
    )
    metrics_before = (project / "metrics/eval.json").read_bytes()
    command = stage_cmd(project, "evaluate")
    command[command.index("--model") + 1] = str(model)
    result = sh(command, project, check=False)
    # (TensorFlow's C++ start-up chatter, printed before Python runs, may come first.)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and "Traceback" not in result.stderr and len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: {model}: cannot load the model:") and "safe_mode" in errors[0]
    assert not marker.exists() and (project / "metrics/eval.json").read_bytes() == metrics_before


def test_a_model_uri_error_does_not_print_the_tracking_password(tmp_path):
    """predict with credentials in MLFLOW_TRACKING_URI and a server that is not there: one line,
    the URI's user:password hidden like every message of the project."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    result = sh(
        ["imdb-predict", "--model-uri", "models:/imdb-sentiment-rnn@champion", "good"],
        ROOT,
        check=False,
        MLFLOW_TRACKING_URI=f"http://{URI_USER}:{URI_PASSWORD}@127.0.0.1:{port}/",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: models:/imdb-sentiment-rnn@champion: ") and "Connection refused" in line
    assert URI_USER not in result.stdout + result.stderr and URI_PASSWORD not in result.stdout + result.stderr

"""imdb-predict: input it refuses in one line before loading any model."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import command_env


def predict(tmp_path, *args: bytes | str) -> subprocess.CompletedProcess:
    """imdb-predict with raw argv bytes, run where there is no model (nothing may be loaded)."""
    command = [os.fsencode(sys.executable), b"-m", b"imdb_rnn.cli.predict", *map(os.fsencode, args)]
    return subprocess.run(command, cwd=tmp_path, env=command_env(), capture_output=True, timeout=120)


def test_an_argument_that_is_not_utf8_is_refused_like_a_file_or_stdin(tmp_path):
    """Files and stdin refused such bytes (as the README promises); an argument was scored silently."""
    result = predict(tmp_path, b"Good \xff film")
    assert result.returncode == 1
    assert result.stderr == b"error: argument 1: not valid UTF-8 (byte 0xff at character 6)\n"


def test_an_empty_model_uri_is_refused_not_taken_for_the_local_model(tmp_path):
    result = predict(tmp_path, "--model-uri", "", "Good film")
    assert result.returncode == 1
    assert result.stderr == b"error: --model-uri: empty (give an MLflow model URI, or leave the option out)\n"


def test_endless_input_is_refused_past_its_size_in_one_line(tmp_path):
    """`--file /dev/zero` and an endless standard input were read until the kernel killed predict at
    22 GB (issue 30)."""
    result = predict(tmp_path, "--file", "/dev/zero")
    assert result.returncode == 1
    assert result.stderr == b"error: /dev/zero: larger than 64 MiB: label the reviews in several calls\n"
    command = [sys.executable, "-m", "imdb_rnn.cli.predict"]
    with open("/dev/zero", "rb") as endless:
        result = subprocess.run(
            command, cwd=tmp_path, env=command_env(), stdin=endless, capture_output=True, timeout=120
        )
    assert result.returncode == 1
    assert result.stderr == b"error: standard input: larger than 64 MiB: label the reviews in several calls\n"

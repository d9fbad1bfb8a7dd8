"""imdb-predict: input it refuses in one line before loading any model."""

from __future__ import annotations

from imdb_rnn.cli.predict import cli
from tests.helpers import console


def test_an_argument_that_is_not_utf8_is_refused_like_a_file_or_stdin(tmp_path, monkeypatch, capsysbinary):
    """Files and stdin refused such bytes (as the README promises); an argument was scored silently."""
    code, _, stderr = console(cli, [b"Good \xff film"], tmp_path, monkeypatch, capsysbinary)
    assert code == 1
    assert stderr == b"error: argument 1: not valid UTF-8 (byte 0xff at character 6)\n"


def test_an_empty_model_uri_is_refused_not_taken_for_the_local_model(tmp_path, monkeypatch, capsysbinary):
    code, _, stderr = console(cli, ["--model-uri", "", "Good film"], tmp_path, monkeypatch, capsysbinary)
    assert code == 1
    assert stderr == b"error: --model-uri: empty (give an MLflow model URI, or leave the option out)\n"


def test_endless_input_is_refused_past_its_size_in_one_line(tmp_path, monkeypatch, capsysbinary):
    """`--file /dev/zero` and an endless standard input were read until the kernel killed predict at
    22 GB (issue 30)."""
    code, _, stderr = console(cli, ["--file", "/dev/zero"], tmp_path, monkeypatch, capsysbinary)
    assert code == 1
    assert stderr == b"error: /dev/zero: larger than 64 MiB: label the reviews in several calls\n"
    with open("/dev/zero", "rb") as endless:
        code, _, stderr = console(cli, [], tmp_path, monkeypatch, capsysbinary, stdin=endless)
    assert code == 1
    assert stderr == b"error: standard input: larger than 64 MiB: label the reviews in several calls\n"

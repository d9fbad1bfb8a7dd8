"""How every stage runs and fails: one-line errors (values shortened, credentials redacted, OS write errors
named), clean interrupts, bounded reads and memory checks; and the one Keras backend choice of every entry point."""

from __future__ import annotations

import contextlib
import difflib
import errno
import os
import re
import reprlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# TensorFlow prints a page of start-up chatter on import; a stage's output should be its own.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def choose_backend(name: str, key: str, strict: bool = True) -> None:
    """The one way every entry point picks its Keras backend: the project's choice `name` (`key` names
    its source: train.backend, the model's config), whatever KERAS_BACKEND the shell has (`torch` gave
    tracebacks). Only before Keras is first imported; in a process already running Keras on another
    backend, `strict` refuses in one line (training), else that backend is kept (a .keras file predicts on any)."""
    keras = sys.modules.get("keras")
    loaded = keras.backend.backend() if keras is not None and hasattr(keras, "backend") else None
    if loaded is None:
        os.environ["KERAS_BACKEND"] = name
    elif loaded != name and strict:
        raise PipelineError(f"{key}: {name!r}, but Keras was already loaded with {loaded!r}")
    if (loaded or name) != "tensorflow":
        # Keras imports TensorFlow now and then even on JAX (saving a model), which then prints its
        # oneDNN start-up line: its oneDNN kernels never run on JAX.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


class PipelineError(Exception):
    """A problem the user can fix; reported as one line, never a traceback."""

    # After the line, end the process at once, without the interpreter's exit hooks: for an error
    # after which a hook would wait on something gone (JAX's distributed shutdown, on a dead peer).
    exit_at_once = False


# The most of one value that a message renders, and of a whole error line: a value may be a 10 MB
# string or a YAML alias bomb's millions of items, and the line must stay one readable line.
MAX_VALUE_CHARS = 200
MAX_LINE_CHARS = 2000
_VALUE_REPR = reprlib.Repr()
_VALUE_REPR.maxlevel, _VALUE_REPR.maxstring, _VALUE_REPR.maxother = 3, 80, 80


def shorten(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """repr(value), at most `limit` characters, in bounded time whatever its size: the one way a
    message renders a value the user gave (a param, a vocabulary's field)."""
    text = _VALUE_REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(message: str) -> str:
    """A message as the one line `run` prints: line breaks folded, at most MAX_LINE_CHARS."""
    line = " ".join(message.split("\n")).replace("\r", " ")
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 3] + "..."


def describe(error, path: object) -> str:
    """A pydantic ValidationError of a file's content (params.yaml, vocab.json) as one line naming the
    key, its first error: 'params.yaml: train.units: must be > 0 (got -1)'."""
    errors = error.errors()
    # A misspelt key (train.unit) is also a missing one (train.units): name the typo, and the fix.
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    first = (unknown or errors)[0]
    key = ".".join(map(str, first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    if not key and first["type"] == "value_error":  # a check across sections names its own keys
        return f"{path}: {message}"
    key = key or "(top level)"
    if first["type"] == "extra_forbidden":
        missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing" and e["loc"][:-1] == first["loc"][:-1]]
        guess = difflib.get_close_matches(str(first["loc"][-1]), missing, n=1)
        return f"{path}: {key}: unknown key" + (f" (did you mean {guess[0]!r}?)" if guess else "")
    if first["type"] == "missing":
        return f"{path}: {key}: missing"
    return f"{path}: {key}: {message} (got {shorten(first['input'])})"


def read_bounded(source: Path | BinaryIO, limit: int, name: object, what: str) -> bytes:
    """All of a file or stream if it holds at most `limit` bytes, else one line saying so and `what` it cannot
    be: /dev/zero or an endless pipe is refused after `limit` bytes, not read until the kernel kills us."""
    try:
        with source.open("rb") if isinstance(source, Path) else contextlib.nullcontext(source) as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        raise PipelineError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        size = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"
        raise PipelineError(f"{name}: larger than {size}: {what}")
    return data


def machine_memory() -> int:
    """Physical memory in bytes, which sizes read from a file are checked against before they are allocated."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


# OS errors that say a place cannot be written, whichever file they name (often none: writing to an
# open file reports ENOSPC without a name): one line, not a traceback, wherever they escape.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG})


def os_reason(exc: OSError) -> str:
    return f"{exc.strerror or exc}{' (disk full)' if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ''}"


_URL_CREDENTIALS = re.compile(r"//[^/@\s]+@")


def redact(text: str) -> str:
    """Text with the user:password of any URL hidden: the project's one redaction (also tracking.store.redact),
    which every stage's error line and every answer of the served model pass through."""
    return _URL_CREDENTIALS.sub("//***@", text)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that `with` blocks unwind: the MLflow
    run ends as FAILED instead of staying RUNNING, and atomic writes drop their temp files."""


received: list[int] = []  # the signals this process got (SIGINT, SIGTERM)


def raise_if_interrupted(signum: int = 0, frame: object = None) -> None:
    """The handler of both signals, and called again at each epoch's end (models.rnn): Python drops an exception
    raised in a garbage collector's callback, and a Ctrl-C's KeyboardInterrupt lost so let training run on (CI)."""
    received.extend([signum] if signum else [])
    if received:
        raise Terminated() if received[-1] == signal.SIGTERM else KeyboardInterrupt()


def restore_hint() -> str:
    """Under `dvc repro` (DVC_STAGE, DVC_ROOT set), how to bring back the outputs DVC deleted before the stage
    ran, from DVC's cache (or git, `cache: false`); '' for a stage dvc.lock does not know, or outside DVC."""
    stage, root = os.environ.get("DVC_STAGE"), os.environ.get("DVC_ROOT")
    if not stage or not root or ":" in stage:  # a stage of another dvc.yaml than the root's
        return ""
    from ruamel.yaml import YAML

    try:
        yaml = YAML(typ="safe", pure=True)
        if stage not in yaml.load(Path(root, "dvc.lock"))["stages"]:
            return ""
        spec = yaml.load(Path(root, "dvc.yaml"))["stages"][stage]
        entries = [entry for kind in ("outs", "metrics", "plots") for entry in spec.get(kind) or ()]
        dicts = [entry for entry in entries if isinstance(entry, dict)]
        in_git = [path for entry in dicts for path, options in entry.items() if not (options or {}).get("cache", True)]
    except Exception:  # no readable dvc.lock or dvc.yaml: nothing to say
        return ""
    git = f", `git checkout {' '.join(in_git)}` the committed ones git keeps" if in_git else ""
    return f" (DVC deleted {stage}'s outputs before it ran: `dvc checkout {stage}` brings back its last ones{git})"


def run(main: Callable[[], None]) -> None:
    """Entry point of every stage: a PipelineError becomes one line on stderr (ending with restore_hint) and
    exit 1; SIGINT or SIGTERM stops the stage cleanly with exit 130 or 143, as a shell reports them."""
    signal.signal(signal.SIGTERM, raise_if_interrupted)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where SIGINT is ignored (nohup)
        signal.signal(signal.SIGINT, raise_if_interrupted)
    try:
        main()
    except (PipelineError, OSError) as exc:
        if isinstance(exc, OSError):  # what imdb_rnn.runtime.outputs did not name (a cache, a log)
            if exc.errno not in WRITE_ERRNOS:
                raise
            exc = PipelineError(f"{os.fsdecode(exc.filename)}: {os_reason(exc)}" if exc.filename else os_reason(exc))
        print(f"error: {one_line(redact(str(exc)))}{restore_hint()}", file=sys.stderr)
        if exc.exit_at_once:  # every `with` block has unwound: the run ended FAILED, temp files gone
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        print(f"error: interrupted by {signum.name}{restore_hint()}", file=sys.stderr)
        sys.exit(128 + signum)

"""Outputs written whole or not at all: a failed or interrupted stage never leaves a half-written output,
nor (even killed) its temp files for long; and outputs that cannot be written (a read-only folder, a full
disk) are one line naming the file or folder. Hand-written: no well-kept library stages several files to
replace them together after MLflow work. (Under `dvc repro`, DVC deletes outputs first: errors.restore_hint.)"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from imdb_rnn.runtime.errors import WRITE_ERRNOS, PipelineError, os_reason

STAGED_PREFIX = ".staged-"
# Temp folders carry the writing process's id (`.staged-<pid>-…`): a process the kernel killed (SIGKILL:
# the out-of-memory killer) unwinds nothing, and the next writer in the folder removes what a process
# no longer alive left there.
_LEFTOVER = re.compile(rf"^{re.escape(STAGED_PREFIX)}(\d+)-")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:  # gone only if no such process: another user's (PermissionError) is alive
        return not isinstance(exc, ProcessLookupError)
    return True


def remove_leftovers(folder: Path) -> None:
    """Remove the temp folders that killed processes left in `folder`."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if (found := _LEFTOVER.match(entry.name)) and not process_alive(int(found[1])):
                shutil.rmtree(entry.path, ignore_errors=True)


def _is_full(folder: Path) -> bool:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail == 0 or stats.f_favail == 0


def write_error(exc: OSError, places: dict[Path, Path]) -> PipelineError | None:
    """`exc` as one line naming the output it concerns, or None if it concerns no output. `places`
    maps the temp paths being written (files or folders) to the outputs they stand for."""
    name = Path(os.path.abspath(os.fsdecode(exc.filename))) if exc.filename else None
    target, matched = None, ""
    for temp, output in places.items() if name is not None else ():
        temp = Path(os.path.abspath(temp))
        if (name == temp or temp in name.parents) and len(str(temp)) > len(matched):
            target, matched = output, str(temp)  # the most specific: a staged file, else its staged folder
        elif not matched and name.parent == temp.parent and name.name.startswith(STAGED_PREFIX):
            target = output.parent  # creating the temp folder itself
    if target is None:
        if exc.errno not in WRITE_ERRNOS:
            return None
        # No file named (a write to an open file): the output last written to, else the folder(s).
        staged = [(temp, output) for temp, output in places.items() if temp != output and temp.name == output.name]
        written = [(temp.stat().st_mtime_ns, output) for temp, output in staged if temp.is_file()]
        outputs = list(dict.fromkeys(places.values()))
        if name is not None:
            target = name
        elif written:
            target = max(written, key=lambda item: item[0])[1]
        elif len(outputs) == 1:
            target = outputs[0]
        else:
            folders = list(dict.fromkeys(output.parent for output in outputs))
            target = ", ".join(map(str, [folder for folder in folders if _is_full(folder)] or folders))
    return PipelineError(f"{target}: cannot write: {os_reason(exc)}")


@contextlib.contextmanager
def staged_outputs(*targets: Path | str) -> Iterator[list[Path]]:
    """Temp paths for `targets` with their own names (MLflow logs a file under its name), in a temp folder
    beside each, replacing them only if the whole block succeeds: a stage does its MLflow work (which can
    fail) in the block too, so a failed stage leaves no new outputs DVC would take as its result."""
    targets = [Path(target) for target in targets]
    folders: dict[Path, Path] = {}
    places = {target: target for target in targets}
    try:
        for target in targets:
            if target.parent not in folders:
                target.parent.mkdir(parents=True, exist_ok=True)
                remove_leftovers(target.parent)
                prefix = f"{STAGED_PREFIX}{os.getpid()}-"
                folders[target.parent] = Path(tempfile.mkdtemp(dir=target.parent, prefix=prefix))
                places[folders[target.parent]] = target.parent
        staged = [folders[target.parent] / target.name for target in targets]
        places.update(zip(staged, targets, strict=True))
        yield staged
        for path, target in zip(staged, targets, strict=False):
            os.replace(path, target)
    except OSError as exc:
        error = write_error(exc, places)
        if error is None:
            raise
        raise error from None
    finally:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """A temp path for `target` that replaces it only if the block succeeds: one staged output."""
    with staged_outputs(target) as (staged,):
        yield staged


def write_text_atomic(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")

"""Outputs written whole or not at all: a failed or interrupted stage never leaves a half-written
output, nor (even killed) its temp files for long. (Under `dvc repro`, DVC itself deletes a stage's
outputs before it runs: the stage's error line says how to bring them back, runtime/errors.py.)
Hand-written: no well-kept library stages several files to replace them together after MLflow work.

Also the one place where a stage's outputs failing to be written (a read-only folder, a full disk, no
permission) becomes one line naming the file or folder: `OSError`s inside `atomic_path` and
`staged_outputs` (and their blocks) that concern the outputs become a PipelineError."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from imdb_rnn.runtime.errors import WRITE_ERRNOS, PipelineError

STAGED_PREFIX = ".staged-"
# Temp names carry the writing process's id (`.staged-<pid>-…` folders, `.<file>.tmp-<pid>-…` files):
# a process the kernel killed (SIGKILL: the out-of-memory killer) unwinds nothing, and the next
# writer in the folder removes what a process no longer alive left there.
_LEFTOVER = re.compile(rf"^(?:{re.escape(STAGED_PREFIX)}|\..+\.tmp-)(\d+)-")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def remove_leftovers(folder: Path) -> None:
    """Remove the temp files and folders that killed processes left in `folder`."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            found = _LEFTOVER.match(entry.name)
            if found and not process_alive(int(found[1])):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def _is_full(folder: Path) -> bool:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail == 0 or stats.f_favail == 0


def _is_written(temp: Path, output: Path) -> bool:
    """A temp file standing for `output` that exists (is being written)."""
    named = temp.name == output.name or temp.name.startswith(f".{output.name}.")
    return temp != output and named and temp.is_file()


def write_error(exc: OSError, places: dict[Path, Path]) -> PipelineError | None:
    """`exc` as one line naming the output it concerns, or None if it concerns no output. `places`
    maps the temp paths being written (files or folders) to the outputs they stand for."""
    name = Path(os.path.abspath(os.fsdecode(exc.filename))) if exc.filename else None
    target, matched = None, ""
    for temp, output in places.items() if name is not None else ():
        temp = Path(os.path.abspath(temp))
        if (name == temp or temp in name.parents) and len(str(temp)) > len(matched):
            target, matched = output, str(temp)  # the most specific: a staged file, else its staged folder
        elif not matched and name.parent == temp.parent and name.name.startswith((STAGED_PREFIX, f".{output.name}.")):
            target = output.parent  # creating the temp file or folder itself
    if target is None:
        if exc.errno not in WRITE_ERRNOS:
            return None
        # No file named (a write to an open file): the output last written to, else the folder(s).
        written = [(temp.stat().st_mtime_ns, output) for temp, output in places.items() if _is_written(temp, output)]
        outputs = list(dict.fromkeys(places.values()))
        folders = list(dict.fromkeys(output.parent for output in outputs))
        full = [folder for folder in folders if _is_full(folder)] or folders
        if name is not None:
            target = name
        elif written:
            target = max(written, key=lambda item: item[0])[1]
        elif len(outputs) == 1:
            target = outputs[0]
        else:
            target = ", ".join(map(str, full))
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += " (disk full)"
    return PipelineError(f"{target}: cannot write: {reason}")


@contextlib.contextmanager
def _output_errors(places: dict[Path, Path]) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        error = write_error(exc, places)
        if error is None:
            raise
        raise error from None


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """A temp path beside `target` that replaces it only if the block succeeds,
    so a failed or interrupted stage never leaves a half-written file."""
    target = Path(target)
    places = {target: target}
    with _output_errors(places):
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(target.parent)
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.tmp-{os.getpid()}-", suffix=target.suffix
        )
        os.close(fd)
        tmp = Path(tmp_name)
        places[tmp] = target
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would outlive the rename
            yield tmp
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_outputs(*targets: Path | str) -> Iterator[list[Path]]:
    """Temp paths for `targets`, with the targets' own names (MLflow logs a file under its name), in
    a temp folder beside each; they replace the targets only if the whole block succeeds. A stage
    writes its outputs there and does its MLflow work (which can fail: a store gone, a full disk)
    in the block, so a failed stage leaves no new outputs DVC would take as its result (run by hand, it
    leaves the old ones; under `dvc repro`, DVC removed them before: see errors.restore_hint)."""
    targets = [Path(target) for target in targets]
    folders: dict[Path, Path] = {}
    places = {target: target for target in targets}
    try:
        with _output_errors(places):
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
    finally:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)


def write_text_atomic(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")

"""Outputs written whole or not at all: a failed or interrupted stage leaves what was there.
Hand-written: no well-kept library stages several files to replace them together after MLflow work."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """A temp path beside `target` that replaces it only if the block succeeds,
    so a failed or interrupted stage never leaves a half-written file."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would outlive the rename
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_outputs(*targets: Path | str) -> Iterator[list[Path]]:
    """Temp paths for `targets`, with the targets' own names (MLflow logs a file under its name), in
    a temp folder beside each; they replace the targets only if the whole block succeeds. A stage
    writes its outputs there and does its MLflow work (which can fail: a store gone, a full disk)
    in the block, so a failed stage leaves its old outputs, never new ones DVC would take as its result."""
    targets = [Path(target) for target in targets]
    folders: dict[Path, Path] = {}
    try:
        for target in targets:
            if target.parent not in folders:
                target.parent.mkdir(parents=True, exist_ok=True)
                folders[target.parent] = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staged-"))
        staged = [folders[target.parent] / target.name for target in targets]
        yield staged
        for path, target in zip(staged, targets, strict=False):
            os.replace(path, target)
    finally:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)


def write_text_atomic(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")

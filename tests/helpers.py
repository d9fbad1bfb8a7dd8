"""Helpers shared by the tests and the benchmarks: real commands in temporary git + DVC copies of
the project, tiny archives in the official layout, and the project's import graph."""

from __future__ import annotations

import ast
import atexit
import contextlib
import functools
import io
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import requests
from filelock import FileLock
from ruamel.yaml import YAML

from imdb_rnn.cli.preset import merge
from imdb_rnn.runtime.params import Params

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHARED_ARCHIVE = (
    ROOT.parent / "shared" / "data" / "aclImdb_v1_with_unsup.tar.gz"
)  # the official layout, train/unsup included
PROJECT_FILES = [
    "stages",
    "src",
    "dvc.yaml",
    ".gitignore",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvcignore",
    "vendor/vega/page.html",
]


def _committed_params() -> str:
    """params.yaml as committed (git HEAD): the defaults the tests are written for. The workspace's
    copy is the user's to change (a preset applied, `dvc exp run -S`, any edit): no test reads it."""
    shown = subprocess.run(["git", "show", "HEAD:params.yaml"], cwd=ROOT, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else (ROOT / "params.yaml").read_text()  # outside git


DEFAULT_PARAMS_TEXT = _committed_params()
DEFAULT_PARAMS = Params.model_validate(YAML(typ="safe", pure=True).load(DEFAULT_PARAMS_TEXT))


def default_params_file(folder: Path) -> Path:
    """folder/params.yaml holding the committed defaults: a file to edit, or a folder (cwd) to run a
    stage or command in (command_env puts the project's `stages` on its path)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(DEFAULT_PARAMS_TEXT)
    return folder / "params.yaml"


CHROMIUM = "/usr/bin/chromium"
# Headless and offline: without these Chromium reaches for the (closed) network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Small enough for a test, large enough to learn something from the real reviews.
SMALL_PER_FOLDER = 1000  # reviews per labeled folder of the tests' archive (tests.helpers.subset_archive)
TINY_PARAMS = {
    "fetch": {"reviews_per_folder": SMALL_PER_FOLDER},
    "split": {"train_size": 1500, "val_size": 500},
    "pad": {"max_features": 5000, "max_len": 64},
    # A masked mean at a high rate learns from 1,500 reviews in one epoch (val ~0.72, and a short review
    # is read without its padding); the default last state stays near chance on so few.
    "train": {
        "epochs": 1,
        "units": 8,
        "embedding_dim": 16,
        "batch_size": 16,
        "pooling": "mean",
        "mask_padding": True,
        "learning_rate": 0.01,
    },
    "baseline": {"ngram_max": 1, "max_features": 20000},
}


def empty_store(folder: Path) -> str:
    """folder/mlflow.db as MLflow leaves it on first use (its tables, no run), copied from one made
    once per process (making one runs every migration, ~1.5 s of CPU); its URI."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(_store_template(), folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


@functools.cache
def _store_template() -> Path:
    from mlflow import MlflowClient

    path = Path(tempfile.mkdtemp(prefix="imdb-rnn-tests-store-")) / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    atexit.register(shutil.rmtree, path.parent, True)
    return path


XLA_CACHE_ENV = "IMDB_RNN_TESTS_XLA_CACHE"  # set by tests/conftest.py for the session


def command_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
        DVC_NO_ANALYTICS="1",
    )
    # `python -m stages.pad` from any folder (default_params_file); a project's own copy, in cwd, comes first.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(ROOT)]))
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("KERAS_BACKEND", None)  # the pipeline picks its backend from params.yaml (test_units sets one in-process)
    if env.get(XLA_CACHE_ENV):
        # One XLA compilation cache (JAX's own, on disk) for every command of the session: dozens of stage
        # processes compile the same tiny models (seconds each). Not in pytest's own processes: there
        # each model compiles once, and writing each to the cache costs more than it saves.
        env.update(
            JAX_COMPILATION_CACHE_DIR=env[XLA_CACHE_ENV],
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
            JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        )
    env.update(extra)
    return env


def sh(args: list[str], cwd: Path, check: bool = True, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """Run a real command; on an unexpected failure show its output in the test report."""
    result = subprocess.run(args, cwd=cwd, env=command_env(**env), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def stage_cmd(project: Path, stage: str) -> list[str]:
    """A stage's command exactly as the project's dvc.yaml runs it, as arguments."""
    return shlex.split(YAML(typ="safe").load((project / "dvc.yaml").read_text())["stages"][stage]["cmd"])


def edit_params(path: Path, changes: dict) -> None:
    """params.yaml with `changes` merged in, comments kept."""
    yaml = YAML()
    params = yaml.load(path.read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(params.get(key), dict):
            merge(params[key], value, f"{key}.")  # the preset command's own merge
        else:
            params[key] = value  # a new section or a scalar: how the tests write bad params
    with path.open("w") as stream:
        yaml.dump(params, stream)


def make_project(dest: Path, params: dict | None = None) -> Path:
    """A fresh git repo holding the project (code, dvc.yaml, params.yaml, DVC config), committed."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif source.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    edit_params(default_params_file(dest), params or {})
    sh(["git", "init", "-q", "-b", "main"], dest)
    sh(["git", "add", "-A"], dest)
    sh(["git", "commit", "-qm", "project"], dest)
    return dest


def console(
    entry, args: list[str | bytes], cwd: Path, monkeypatch, capsysbinary, stdin=b""
) -> tuple[int, bytes, bytes]:
    """A console script's refusal in this process: `entry` (e.g. imdb_rnn.cli.predict.cli) with argv `args`
    (bytes decoded as Python decodes argv), `stdin` bytes or a binary file, MLFLOW_TRACKING_URI unset as
    command_env does; (exit code, stdout, stderr). For refusals, where a process of its own, Python and
    Keras started anew, proves nothing more: the seconds of imports it saves are most of such a test."""
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(sys, "argv", ["console", *map(os.fsdecode, args)])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin) if isinstance(stdin, bytes) else stdin))
    try:
        entry()
        code = 0
    except SystemExit as exited:
        code = exited.code
    out, err = capsysbinary.readouterr()
    return code, out, err


SHARED_ENV = "IMDB_RNN_TESTS_SHARED"  # the folder of what a session builds once (tests/conftest.py)


def built_once(name: str, build) -> Path:
    """What `build(path)` makes, made once for the whole session: by the first process to ask (a
    pytest-xdist worker, or the prebuild that tests/conftest.py starts), the others waiting on a file
    lock, then reading it."""
    root = Path(os.environ[SHARED_ENV])
    path, done = root / name, root / f"{name}.done"
    with FileLock(root / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)  # what a failed build left
            build(path)
            done.touch()
    return path


def small_archive(full_archive: Path) -> Path:
    """The session's small archive of real reviews (tests/integration/conftest.py: real_archive)."""
    return built_once("aclImdb_small.tar.gz", lambda path: subset_archive(full_archive, path, SMALL_PER_FOLDER))


def reproduced_project(full_archive: Path) -> Path:
    """The session's project after one `dvc repro` with TINY_PARAMS on the small archive (`reproduced`)."""
    archive = small_archive(full_archive)

    def build(project: Path) -> None:
        make_project(project, TINY_PARAMS)
        sh(["dvc", "repro"], project, IMDB_ARCHIVE=str(archive))

    return built_once("reproduced", build)


def review_members(per_folder: int) -> dict[str, bytes]:
    """Reviews named and rated like the official archive: ratings 7-10 under pos, 1-4 under neg, and
    four times as many unlabeled ones (rated 0) under train/unsup."""
    members = {}
    for split in ("train", "test"):
        for sentiment, ratings, words in (
            ("pos", (7, 8, 9, 10), "great wonderful loved"),
            ("neg", (1, 2, 3, 4), "awful boring hated"),
        ):
            for index in range(per_folder):
                rating = ratings[index % 4]
                text = f"A {split} review number {index}: {words}.<br /><br />Rated {rating}!"
                members[f"aclImdb/{split}/{sentiment}/{index}_{rating}.txt"] = text.encode()
    for index in range(4 * per_folder):
        members[f"aclImdb/train/unsup/{index}_0.txt"] = f"An unlabeled review number {index}, seen or not.".encode()
    return members


def subset_archive(source: Path, dest: Path, per_folder: int) -> Path:
    """The official archive cut to its first `per_folder` reviews of each labeled folder (ids below
    `per_folder`), the first 4x as many unlabeled ones, and the urls_*.txt files cut to match (line i
    is review i's movie): real reviews in the official layout, small enough for a test's `dvc repro`."""
    members = {}
    with tarfile.open(source, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) < 3:
                continue
            limit = 4 * per_folder if "unsup" in parts[-1] or parts[2] == "unsup" else per_folder
            if parts[-1].startswith("urls_"):
                lines = tar.extractfile(member).read().decode().splitlines(keepends=True)
                members[member.name] = "".join(lines[:limit]).encode()
            elif len(parts) == 4 and parts[3].endswith(".txt") and int(parts[3].split("_")[0]) < limit:
                members[member.name] = tar.extractfile(member).read()
    return write_archive(dest, members)


def write_archive(
    path: Path, members: dict[str, bytes], links: dict[str, str] | None = None, hard: bool = False
) -> Path:
    """A .tar.gz with the given regular files (and symlinks, or hardlinks if `hard`: name -> target)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


PROJECT_PACKAGES = ("stages", "imdb_rnn")


def module_file(module: str) -> Path:
    """The file of a project module, relative to the root: stages/train.py, src/imdb_rnn/data/text.py."""
    path = Path(*module.split(".")).with_suffix(".py")
    return path if module.startswith("stages.") else Path("src") / path


def project_imports(module: str) -> set[str]:
    """The project modules `module` ("stages.train") imports, directly or not, itself included,
    whether at the top or inside a function: every file whose change can change what it does.
    Packages' __init__.py files hold only a docstring (a unit test checks) and are not counted."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = ast.parse((ROOT / module_file(name)).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PROJECT_PACKAGES:
                for alias in node.names:  # `from imdb_rnn.data import text`: a module; else a name in one
                    candidate = f"{node.module}.{alias.name}"
                    todo.append(candidate if (ROOT / module_file(candidate)).is_file() else node.module)
            elif isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names if alias.name.split(".")[0] in PROJECT_PACKAGES]
    return seen


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A real server as a subprocess in its own process group, ready when `ready_path` answers 200."""

    def __init__(
        self,
        args: list[str],
        cwd: Path,
        log: Path,
        ready_path: str,
        timeout: float = 120,
        where=lambda port: ["--host", "127.0.0.1", "--port", str(port)],
        **env: str,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("w") as stream:
            self.process = subprocess.Popen(
                [*args, *where(self.port)],
                cwd=cwd,
                env=command_env(**env),
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise AssertionError(f"{args[0]} exited {self.process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + ready_path, timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        self.stop()
        raise AssertionError(f"{args[0]} not ready after {timeout} s:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM to the server's own process group (it forks workers), SIGKILL if it lingers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


MODEL_NAME = "imdb-sentiment-rnn"  # params.yaml's mlflow.registered_model_name


def champion(client) -> str:
    """The version the registry's `champion` alias names (imdb_rnn.tracking.promotion)."""
    return str(client.get_model_version_by_alias(MODEL_NAME, "champion").version)


def best_version(client) -> str:
    """The best val.accuracy, the earliest of equals (a tie keeps the champion)."""
    versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
    return str(max(versions, key=lambda v: (float(v.tags["val.accuracy"]), -int(v.version))).version)


def assert_alias_on_the_best(client, swept: str) -> None:
    """After runs with different params: the alias on the best by validation, each version saying
    why, and described with the swept param (it differs from the committed params.yaml)."""
    assert champion(client) == best_version(client)
    for version in client.search_model_versions(f"name = '{MODEL_NAME}'"):
        assert version.tags["promotion.mode"] == "best_val" and version.tags["promotion.reason"], version.tags
        assert f"{swept}=" in version.description and "val.accuracy 0." in version.description, version.description


def _mount(*args: str) -> str | None:
    """`mount args...`: None if it worked, else why not."""
    try:
        result = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if result.returncode == 0 else (result.stderr.strip() or f"mount exited {result.returncode}")


def _umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` made read-only for real: chmod for a normal user; as root (whom chmod does not stop)
    a read-only bind mount of the folder onto itself. pytest.skip, saying why, if neither can be had."""
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(mode)
        return
    problem = _mount("--bind", str(folder), str(folder))
    if problem is None:
        problem = _mount("-o", "remount,bind,ro", str(folder))
        if problem is not None:
            _umount(folder)
    if problem is not None:
        pytest.skip(f"cannot make {folder} read-only as root: {problem}")
    try:
        yield folder
    finally:
        _umount(folder)


@contextlib.contextmanager
def full_disk(folder: Path, size: str = "4m"):
    """`folder` on a small tmpfs of its own, holding what it held, then filled to the last byte: a
    real full disk (ENOSPC) under it. pytest.skip, saying why, if no tmpfs can be mounted here."""
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    saved = folder.parent / f".{folder.name}.before-full-disk"
    shutil.copytree(folder, saved, symlinks=True)
    problem = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    if problem is not None:
        shutil.rmtree(saved)
        pytest.skip(f"cannot mount a small tmpfs on {folder} (to fill it): {problem}")
    try:
        shutil.copytree(saved, folder, symlinks=True, dirs_exist_ok=True)
        filler = os.open(folder / ".filler", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            for chunk in (1 << 16, 4096, 1):  # to the last byte
                with contextlib.suppress(OSError):
                    while os.write(filler, b"\0" * chunk):
                        pass
        finally:
            os.close(filler)
        yield folder
    finally:
        _umount(folder)
        shutil.rmtree(saved, ignore_errors=True)

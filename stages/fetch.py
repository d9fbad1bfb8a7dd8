"""fetch: the Large Movie Review Dataset archive -> data/raw/reviews.parquet (the 50,000 labeled
reviews) and data/raw/unlabeled.parquet (the 50,000 unlabeled ones, train/unsup in the archive).

Downloads `fetch.url` once into IMDB_CACHE (default ~/.cache/imdb-rnn) and checks `fetch.sha256`;
with IMDB_ARCHIVE set, reads that local copy instead and checks its content (a mirror may be
repacked, so its bytes may differ).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import tarfile
import zlib
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import pandas as pd
import requests
from tqdm import tqdm
from urllib3.util.retry import Retry

from stages.common import FetchParams, PipelineError, atomic_path, load_params, run

PARAMS = ("fetch",)  # dvc.yaml's params of this stage (a test compares)

ARCHIVE_ENV = "IMDB_ARCHIVE"
CACHE_ENV = "IMDB_CACHE"  # default ~/.cache/imdb-rnn
REVIEWS_PER_FOLDER = 12_500
UNLABELED_PER_LABELED_FOLDER = 4  # 50,000 in train/unsup for 12,500 in each labeled folder
FOLDERS = [f"{split}/{sentiment}" for split in ("train", "test") for sentiment in ("pos", "neg")]
REVIEW_NAME = re.compile(r"^aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
UNLABELED_NAME = re.compile(r"^aclImdb/train/unsup/(\d+)_0\.txt$")  # rated 0: no rating, no label
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 10, 60
DOWNLOAD_ATTEMPTS = 5
CHUNK_BYTES = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _session() -> requests.Session:
    # urllib3 retries refused connections and 5xx answers; resuming a cut transfer is ours.
    retry = Retry(total=3, backoff_factor=0.5, status_forcelist=(500, 502, 503, 504), allowed_methods=["GET"])
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(max_retries=retry))
    session.mount("https://", requests.adapters.HTTPAdapter(max_retries=retry))
    return session


def download(url: str, target: Path, attempts: int = DOWNLOAD_ATTEMPTS,
             timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)) -> None:
    """Download `url` to `target`, resuming with a Range request when the connection drops.
    Every wait is bounded: `timeout` (connect, read) seconds per network operation, a few
    retries, `attempts` resumes. On final failure `target` is removed and the error says why."""
    session = _session()
    last_error = "no attempt made"
    try:
        for _ in range(attempts):
            have = target.stat().st_size if target.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with session.get(url, stream=True, headers=headers, timeout=timeout) as response:
                    if response.status_code == 416:  # we already have every byte
                        return
                    response.raise_for_status()
                    resumed = response.status_code == 206
                    if not resumed:
                        have = 0
                    total = int(response.headers.get("Content-Length", 0)) + have or None
                    with target.open("ab" if resumed else "wb") as out, tqdm(
                        total=total, initial=have, unit="B", unit_scale=True, desc="fetch", disable=None
                    ) as bar:
                        for chunk in response.iter_content(CHUNK_BYTES):
                            out.write(chunk)
                            bar.update(len(chunk))
                    if total is None or target.stat().st_size >= total:
                        return
                    last_error = f"connection closed after {target.stat().st_size:,} of {total:,} bytes"
            except requests.HTTPError as exc:
                raise PipelineError(f"download of {url} failed: HTTP {exc.response.status_code}") from None
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
        raise PipelineError(f"download of {url} failed after {attempts} attempts: {last_error}")
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Refuse what could escape a folder if unpacked (we never unpack, but such an archive
    is not the dataset): absolute paths, '..', links and device files."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise PipelineError(f"{archive}: unsafe member path {member.name!r}")
    if member.issym() or member.islnk():
        raise PipelineError(f"{archive}: member {member.name!r} is a link; the dataset has none")
    if not (member.isfile() or member.isdir()):
        raise PipelineError(f"{archive}: member {member.name!r} is not a regular file")


class Reviews(NamedTuple):
    labeled: pd.DataFrame  # split, label, review_id, rating, text
    unlabeled: pd.DataFrame  # review_id, text


def _text(tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Path) -> str:
    raw = tar.extractfile(member).read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{archive}: {member.name}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def read_reviews(archive: Path, per_folder: int = REVIEWS_PER_FOLDER) -> Reviews:
    """Every review in the archive, labeled and unlabeled, each in a fixed order; checks the content
    is the dataset (`per_folder` reviews in each labeled folder, four times as many unlabeled)."""
    rows, unlabeled = [], []
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                _check_member(member, archive)
                if not member.isfile():
                    continue
                if match := UNLABELED_NAME.match(member.name):
                    unlabeled.append((int(match.group(1)), _text(tar, member, archive)))
                    continue
                match = REVIEW_NAME.match(member.name)
                if not match:
                    continue
                split, sentiment, review_id, rating = match.groups()
                rating = int(rating)
                if (sentiment == "pos" and rating < 7) or (sentiment == "neg" and rating > 4):
                    raise PipelineError(f"{archive}: {member.name}: rating {rating} does not fit {sentiment}")
                rows.append((split, int(sentiment == "pos"), int(review_id), rating, _text(tar, member, archive)))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise PipelineError(f"{archive}: not a readable .tar.gz (truncated or corrupt?): {exc}") from None

    counts = Counter(f"{split}/{'pos' if label else 'neg'}" for split, label, *_ in rows)
    wrong = [f"aclImdb/{folder} has {counts[folder]:,}" for folder in FOLDERS if counts[folder] != per_folder]
    if wrong:
        raise PipelineError(f"{archive}: expected {per_folder:,} reviews per folder, but " + "; ".join(wrong))
    if len(unlabeled) != UNLABELED_PER_LABELED_FOLDER * per_folder:
        raise PipelineError(f"{archive}: expected {UNLABELED_PER_LABELED_FOLDER * per_folder:,} unlabeled reviews in "
                            f"aclImdb/train/unsup, but it has {len(unlabeled):,} (is this the full official archive?)")

    labeled = pd.DataFrame(rows, columns=["split", "label", "review_id", "rating", "text"])
    return Reviews(
        labeled.sort_values(["split", "label", "review_id"], ignore_index=True),
        pd.DataFrame(unlabeled, columns=["review_id", "text"]).sort_values("review_id", ignore_index=True),
    )


def cache_dir() -> Path:
    """Where the downloaded archive is kept between runs, outside the repository."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "imdb-rnn")


def cached_archive(params: FetchParams) -> Path:
    """The official archive, downloaded once into the cache and checked against `fetch.sha256`;
    a cached copy whose checksum no longer matches is downloaded again."""
    target = cache_dir() / Path(params.url).name
    if target.is_file() and sha256_of(target) == params.sha256:
        return target
    with atomic_path(target) as tmp:  # never a half-downloaded archive in the cache
        download(params.url, tmp)
        actual = sha256_of(tmp)
        if actual != params.sha256:
            raise PipelineError(f"{params.url}: sha256 mismatch: expected {params.sha256}, got {actual}")
    return target


def fetch(params: FetchParams, labeled_out: Path, unlabeled_out: Path) -> None:
    local = os.environ.get(ARCHIVE_ENV)
    if local:
        archive = Path(local)
        if not archive.is_file():
            raise PipelineError(f"{ARCHIVE_ENV}={local}: no such file")
    else:
        archive = cached_archive(params)
    reviews = read_reviews(archive)
    with atomic_path(labeled_out) as labeled_tmp, atomic_path(unlabeled_out) as unlabeled_tmp:
        reviews.labeled.to_parquet(labeled_tmp, index=False)
        reviews.unlabeled.to_parquet(unlabeled_tmp, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labeled_out", type=Path, help="parquet file for the labeled reviews")
    parser.add_argument("unlabeled_out", type=Path, help="parquet file for the unlabeled reviews")
    args = parser.parse_args()
    fetch(load_params(keys=PARAMS).fetch, args.labeled_out, args.unlabeled_out)


if __name__ == "__main__":
    run(main)

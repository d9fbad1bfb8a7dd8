"""The Large Movie Review Dataset archive: found (IMDB_ARCHIVE, or downloaded once into IMDB_CACHE, default
~/.cache/imdb-rnn, and checked against `fetch.sha256`), then read and checked member by member into the labeled
and the unlabeled reviews. A local copy is checked by content, not bytes (a mirror may be repacked)."""

from __future__ import annotations

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

from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.outputs import atomic_path
from imdb_rnn.runtime.params import FetchParams

ARCHIVE_ENV = "IMDB_ARCHIVE"
CACHE_ENV = "IMDB_CACHE"  # default ~/.cache/imdb-rnn
UNLABELED_PER_LABELED_FOLDER = 4  # 50,000 in train/unsup for 12,500 in each labeled folder
REVIEW_NAME = re.compile(r"^aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
UNLABELED_NAME = re.compile(r"^aclImdb/(train)/(unsup)/(\d+)_(0)\.txt$")  # rated 0: no rating, no label
# Each labeled folder's movies: line i is the IMDb page of the movie of the review with id i.
URLS_NAME = re.compile(r"^aclImdb/(train|test)/urls_(pos|neg)\.txt$")
MOVIE = re.compile(r"/title/(tt\d+)/")
LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
CHUNK_BYTES = 1 << 20
# The longest official review is under 14 kB; a member larger than this is not a review, and
# reading it whole could exhaust memory (a gzip bomb: 1.7 MB of archive held a 1 GiB review).
MAX_REVIEW_BYTES = 1 << 20
MAX_URLS_BYTES = 4 << 20  # a urls_*.txt holds 12,500 lines of about 50 bytes
# Ratings as the dataset's README defines them: negative <= 4 and positive >= 7, out of 10.
RATINGS = {"neg": range(1, 5), "pos": range(7, 11), "unsup": range(0, 1)}  # unlabeled: rated 0
MAX_REVIEW_ID = 2**63 - 1  # review_id is an int64 column


class Reviews(NamedTuple):
    labeled: pd.DataFrame  # split, label, review_id, rating, text, movie (None without the urls files)
    unlabeled: pd.DataFrame  # review_id, text, in_labeled (the same text is a labeled review too)


def sha256_of(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def download(url: str, target: Path, attempts: int = 5, timeout: tuple[float, float] = (10, 60)) -> None:
    """Download `url` to `target`, resuming with a Range request when the connection drops. Every wait
    is bounded: `timeout` (connect, read) per network operation, a few retries, `attempts` resumes; on
    final failure `target` is removed and the error says why."""
    # urllib3 retries refused connections and 5xx answers; resuming a cut transfer is ours.
    retry = Retry(total=3, backoff_factor=0.5, status_forcelist=(500, 502, 503, 504), allowed_methods=["GET"])
    session = requests.Session()
    for prefix in ("http://", "https://"):
        session.mount(prefix, requests.adapters.HTTPAdapter(max_retries=retry))
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
                    have = have if resumed else 0
                    total = int(response.headers.get("Content-Length", 0)) + have or None
                    with (
                        target.open("ab" if resumed else "wb") as out,
                        tqdm(total=total, initial=have, unit="B", unit_scale=True, desc="fetch", disable=None) as bar,
                    ):
                        for chunk in response.iter_content(CHUNK_BYTES):
                            bar.update(out.write(chunk))
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


def _read_review(tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Path, sentiment: str, review_id, rating):
    """(id, rating, text) of a review file, checked against the official layout before it is read."""
    where = f"{archive}: {member.name}"
    if member.size > MAX_REVIEW_BYTES:
        raise PipelineError(f"{where}: {member.size:,} bytes, more than the {MAX_REVIEW_BYTES:,} a review may be")
    if len(review_id) > len(str(MAX_REVIEW_ID)) or int(review_id) > MAX_REVIEW_ID:
        raise PipelineError(f"{where}: review id {review_id} is out of range")
    if int(rating) not in (expected := RATINGS[sentiment]):
        raise PipelineError(
            f"{where}: rating {int(rating)} does not fit {sentiment} ({expected.start} to {expected.stop - 1})"
        )
    raw = tar.extractfile(member).read(MAX_REVIEW_BYTES)  # bounded, whatever the header says
    try:
        return int(review_id), int(rating), raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def _movies(tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Path) -> list[str]:
    """The IMDb title id on each line of a urls_*.txt."""
    lines = tar.extractfile(member).read(MAX_URLS_BYTES).decode("utf-8", errors="replace").split()
    titles = [MOVIE.search(line) for line in lines]
    if bad := next((number for number, title in enumerate(titles, 1) if title is None), None):
        raise PipelineError(f"{archive}: {member.name}: line {bad} names no IMDb title (/title/tt...)")
    return [title.group(1) for title in titles]


def read_reviews(archive: Path, per_folder: int = 12_500) -> Reviews:
    """Every review in the archive, labeled and unlabeled, each in a fixed order; checks the content
    is the dataset (`per_folder` reviews in each labeled folder, four times as many unlabeled)."""
    rows, unlabeled, seen, movies = [], [], set(), {}
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                _check_member(member, archive)
                if not member.isfile():
                    continue
                if match := URLS_NAME.match(member.name):
                    movies[match.groups()] = _movies(tar, member, archive)
                    continue
                if not (match := REVIEW_NAME.match(member.name) or UNLABELED_NAME.match(member.name)):
                    continue
                split, sentiment, review_id, rating = match.groups()
                review_id, rating, text = _read_review(tar, member, archive, sentiment, review_id, rating)
                if (split, sentiment, review_id) in seen:  # a review counted twice would pass the count
                    raise PipelineError(
                        f"{archive}: {member.name}: review {split}/{sentiment} {review_id} appears twice"
                    )
                seen.add((split, sentiment, review_id))
                if sentiment == "unsup":
                    unlabeled.append((review_id, text))
                else:
                    rows.append((split, int(sentiment == "pos"), review_id, rating, text))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise PipelineError(f"{archive}: not a readable .tar.gz (truncated or corrupt?): {exc}") from None

    counts = Counter(f"{split}/{'pos' if label else 'neg'}" for split, label, *_ in rows)
    folders = [f"{split}/{sentiment}" for split in ("train", "test") for sentiment in ("pos", "neg")]
    if wrong := [f"aclImdb/{folder} has {counts[folder]:,}" for folder in folders if counts[folder] != per_folder]:
        raise PipelineError(f"{archive}: expected {per_folder:,} reviews per folder, but " + "; ".join(wrong))
    if len(unlabeled) != UNLABELED_PER_LABELED_FOLDER * per_folder:
        raise PipelineError(
            f"{archive}: expected {UNLABELED_PER_LABELED_FOLDER * per_folder:,} unlabeled reviews in "
            f"aclImdb/train/unsup, but it has {len(unlabeled):,} (is this the full official archive?)"
        )

    labeled = pd.DataFrame(rows, columns=["split", "label", "review_id", "rating", "text"])
    labeled["movie"] = [_movie(movies, row, archive) for row in rows]
    unlabeled = pd.DataFrame(unlabeled, columns=["review_id", "text"])
    # A few hundred unlabeled reviews are labeled reviews too (validation and test ones among them);
    # flagged here, where both are at hand, so that no stage learns from a held-out review's text.
    # The unlabeled copy lost its <br /> tags: the texts compared without them.
    same = [f["text"].str.replace(LINE_BREAK, "", regex=True).str.split().str.join(" ") for f in (unlabeled, labeled)]
    unlabeled["in_labeled"] = same[0].isin(set(same[1]))
    return Reviews(
        labeled.sort_values(["split", "label", "review_id"], ignore_index=True),
        unlabeled.sort_values("review_id", ignore_index=True),
    )


def _movie(movies: dict[tuple[str, str], list[str]], row: tuple, archive: Path) -> str | None:
    """A review's movie; None without a urls file for its folder (split refuses that when it groups by movie)."""
    split, label, review_id = row[:3]
    titles = movies.get((split, "pos" if label else "neg"))
    if titles is not None and review_id >= len(titles):
        raise PipelineError(
            f"{archive}: aclImdb/{split}/urls_{'pos' if label else 'neg'}.txt has {len(titles):,} lines, "
            f"no movie for review {review_id}"
        )
    return None if titles is None else titles[review_id]


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
        if (actual := sha256_of(tmp)) != params.sha256:
            raise PipelineError(f"{params.url}: sha256 mismatch: expected {params.sha256}, got {actual}")
    return target


def locate_archive(params: FetchParams) -> Path:
    """IMDB_ARCHIVE if set (checked to be a file), else the official archive from the cache."""
    local = os.environ.get(ARCHIVE_ENV)
    if not local:
        return cached_archive(params)
    if Path(local).is_dir():
        raise PipelineError(f"{ARCHIVE_ENV}={local}: is a directory, not the .tar.gz archive")
    if not Path(local).is_file():
        raise PipelineError(f"{ARCHIVE_ENV}={local}: no such file")
    return Path(local)

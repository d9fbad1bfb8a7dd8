"""fetch on tiny archives in the official layout, and downloads from a real local HTTP server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import socket
import threading
import time

import pandas as pd
import pytest

from imdb_rnn.data.archive import CACHE_ENV, cached_archive, download, read_reviews
from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.params import FetchParams
from tests.helpers import default_params_file, make_project, review_members, sh, write_archive


@pytest.fixture()
def http_dir(tmp_path):
    """A real HTTP server on 127.0.0.1 serving a folder; yields (folder, base url)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_reads_reviews_in_a_fixed_order(tmp_path):
    archive = write_archive(tmp_path / "a.tar.gz", review_members(per_folder=3))
    reviews, unlabeled = read_reviews(archive, per_folder=3)
    assert list(reviews.columns) == ["split", "label", "review_id", "rating", "text", "movie"]
    assert reviews.movie.isna().all()  # no urls_*.txt in this archive: split.group_by: movie refuses it
    assert len(reviews) == 12
    assert reviews.groupby(["split", "label"]).size().tolist() == [3, 3, 3, 3]
    assert (reviews[reviews.label == 1].rating >= 7).all() and (reviews[reviews.label == 0].rating <= 4).all()
    # The same reviews packed in another order give the same table.
    shuffled = dict(reversed(list(review_members(per_folder=3).items())))
    again = read_reviews(write_archive(tmp_path / "b.tar.gz", shuffled), per_folder=3)
    pd.testing.assert_frame_equal(reviews, again.labeled)
    pd.testing.assert_frame_equal(unlabeled, again.unlabeled)
    assert list(unlabeled.columns) == ["review_id", "text", "in_labeled"] and unlabeled.review_id.tolist() == list(
        range(12)
    )
    assert not unlabeled.in_labeled.any()


def test_an_unlabeled_review_that_is_a_labeled_one_too_is_flagged(tmp_path):
    members = review_members(per_folder=3)
    members["aclImdb/train/unsup/5_0.txt"] = members["aclImdb/test/pos/1_8.txt"].replace(
        b"<br />", b""
    )  # as the archive has it
    _, unlabeled = read_reviews(write_archive(tmp_path / "a.tar.gz", members), per_folder=3)
    assert unlabeled.loc[unlabeled.in_labeled, "review_id"].tolist() == [5]


def test_each_review_gets_the_movie_on_its_line_of_the_folders_urls_file(tmp_path):
    members = review_members(per_folder=3)
    for number, folder in enumerate(("train/pos", "train/neg", "test/pos", "test/neg")):
        urls = [f"http://www.imdb.com/title/tt{number}{review_id // 2}/usercomments" for review_id in range(3)]
        members[f"aclImdb/{folder.replace('/', '/urls_')}.txt"] = "\n".join(urls).encode()
    reviews, _ = read_reviews(write_archive(tmp_path / "a.tar.gz", members), per_folder=3)
    positives = reviews[(reviews.split == "train") & (reviews.label == 1)]
    assert dict(zip(positives.review_id, positives.movie, strict=True)) == {0: "tt00", 1: "tt00", 2: "tt01"}
    members["aclImdb/test/urls_neg.txt"] = b"http://www.imdb.com/title/tt1/usercomments\n"
    with pytest.raises(PipelineError, match=r"aclImdb/test/urls_neg.txt has 1 lines, no movie for review 1"):
        read_reviews(write_archive(tmp_path / "b.tar.gz", members), per_folder=3)
    members["aclImdb/test/urls_neg.txt"] = b"http://www.imdb.com/title/tt1/usercomments\nnot a url\n"
    with pytest.raises(PipelineError, match=r"aclImdb/test/urls_neg.txt: line 2 names no IMDb title"):
        read_reviews(write_archive(tmp_path / "c.tar.gz", members), per_folder=3)


def test_unlabeled_reviews_are_required_like_the_official_archive_has_them(tmp_path):
    members = {name: data for name, data in review_members(per_folder=3).items() if "/unsup/" not in name}
    with pytest.raises(PipelineError, match=r"expected 12 unlabeled reviews in aclImdb/train/unsup, but it has 0"):
        read_reviews(write_archive(tmp_path / "a.tar.gz", members), per_folder=3)


def test_missing_reviews_are_named(tmp_path):
    members = review_members(per_folder=3)
    del members["aclImdb/test/neg/1_2.txt"]
    with pytest.raises(PipelineError, match=r"aclImdb/test/neg has 2"):
        read_reviews(write_archive(tmp_path / "a.tar.gz", members), per_folder=3)


def test_rating_that_contradicts_the_folder(tmp_path):
    members = review_members(per_folder=3)
    members["aclImdb/train/pos/99_2.txt"] = b"mislabeled"
    with pytest.raises(PipelineError, match=r"99_2.txt: rating 2 does not fit pos"):
        read_reviews(write_archive(tmp_path / "a.tar.gz", members), per_folder=3)


def test_truncated_archive(tmp_path):
    archive = write_archive(tmp_path / "a.tar.gz", review_members(per_folder=50))
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(PipelineError, match=r"truncated or corrupt"):
        read_reviews(archive, per_folder=50)


@pytest.mark.parametrize("name", ["/abs/aclImdb/train/pos/0_9.txt", "aclImdb/../../evil.txt"])
def test_unsafe_member_paths(tmp_path, name):
    members = review_members(per_folder=3)
    members[name] = b"x"
    with pytest.raises(PipelineError, match=r"unsafe member path"):
        read_reviews(write_archive(tmp_path / "a.tar.gz", members), per_folder=3)


def test_links_are_refused(tmp_path):
    archive = write_archive(
        tmp_path / "a.tar.gz", review_members(per_folder=3), links={"aclImdb/train/pos/7_9.txt": "/etc/passwd"}
    )
    with pytest.raises(PipelineError, match=r"is a link"):
        read_reviews(archive, per_folder=3)


def test_review_that_is_not_utf8(tmp_path):
    members = review_members(per_folder=3)
    members["aclImdb/train/neg/0_1.txt"] = b"caf\xe9 awful"
    with pytest.raises(PipelineError, match=r"0_1.txt: not UTF-8"):
        read_reviews(write_archive(tmp_path / "a.tar.gz", members), per_folder=3)


def test_download_from_a_real_server(tmp_path, http_dir):
    served, url = http_dir
    payload = bytes(range(256)) * 4000
    (served / "archive.tar.gz").write_bytes(payload)
    target = tmp_path / "got.tar.gz"
    download(f"{url}/archive.tar.gz", target)
    assert target.read_bytes() == payload


def test_download_failure_leaves_no_file(tmp_path, http_dir):
    _, url = http_dir
    target = tmp_path / "got.tar.gz"
    with pytest.raises(PipelineError, match=r"HTTP 404"):
        download(f"{url}/missing.tar.gz", target)
    assert not target.exists()


def test_checksum_mismatch_names_both_hashes_and_writes_nothing(tmp_path, http_dir):
    served, url = http_dir
    archive = write_archive(served / "aclImdb_v1.tar.gz", review_members(per_folder=3))
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    expected = "0" * 64
    project = make_project(tmp_path / "project", {"fetch": {"url": f"{url}/aclImdb_v1.tar.gz", "sha256": expected}})
    cache = tmp_path / "cache"
    result = sh(
        ["python", "-m", "stages.fetch", "data/raw/reviews.parquet", "data/raw/unlabeled.parquet"],
        project,
        check=False,
        IMDB_ARCHIVE="",
        IMDB_CACHE=str(cache),
    )
    assert result.returncode == 1
    assert expected in result.stderr and actual in result.stderr
    assert not (project / "data").exists() and list(cache.iterdir()) == []  # no archive kept that fails its checksum


def test_missing_local_archive_is_named(tmp_path):
    result = sh(
        ["python", "-m", "stages.fetch", str(tmp_path / "out.parquet"), str(tmp_path / "unlabeled.parquet")],
        default_params_file(tmp_path / "project").parent,
        check=False,
        IMDB_ARCHIVE=str(tmp_path / "nope.tar.gz"),
    )
    assert result.returncode == 1 and "nope.tar.gz: no such file" in result.stderr
    assert not (tmp_path / "out.parquet").exists()


def test_hardlinks_are_refused(tmp_path):
    archive = write_archive(
        tmp_path / "a.tar.gz",
        review_members(per_folder=3),
        links={"aclImdb/train/pos/8_9.txt": "../../../etc/passwd"},
        hard=True,
    )
    with pytest.raises(PipelineError, match=r"8_9.txt' is a link"):
        read_reviews(archive, per_folder=3)


def test_a_missing_folder_is_named(tmp_path):
    members = {
        name: data for name, data in review_members(per_folder=3).items() if not name.startswith("aclImdb/test/pos/")
    }
    with pytest.raises(PipelineError, match=r"expected 3 reviews per folder, but aclImdb/test/pos has 0$"):
        read_reviews(write_archive(tmp_path / "a.tar.gz", members), per_folder=3)


@pytest.mark.parametrize("bad", ["hardlink", "truncated", "not utf-8"])
def test_the_stage_refuses_a_bad_download_and_leaves_nothing(tmp_path, http_dir, bad):
    """The real stage downloading a bad archive whose checksum is right: exit 1 with one line,
    no output, and the temp dir it downloaded into is gone."""
    served, url = http_dir
    members = review_members(per_folder=3)
    if bad == "not utf-8":
        members["aclImdb/test/pos/1_8.txt"] = "déjà vu".encode("latin-1")
    links = {"aclImdb/train/neg/9_1.txt": "aclImdb/train/neg/0_1.txt"} if bad == "hardlink" else None
    archive = write_archive(served / "aclImdb_v1.tar.gz", members, links=links, hard=True)
    if bad == "truncated":
        archive.write_bytes(archive.read_bytes()[:-100])
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    project = make_project(tmp_path / "project", {"fetch": {"url": f"{url}/aclImdb_v1.tar.gz", "sha256": sha256}})
    cache = tmp_path / "cache"
    result = sh(
        ["python", "-m", "stages.fetch", "data/raw/reviews.parquet", "data/raw/unlabeled.parquet"],
        project,
        check=False,
        IMDB_ARCHIVE="",
        IMDB_CACHE=str(cache),
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), (
        result.stderr
    )
    assert {"hardlink": "is a link", "truncated": "truncated or corrupt", "not utf-8": "not UTF-8"}[
        bad
    ] in result.stderr
    assert not (project / "data").exists()
    assert [path.name for path in cache.iterdir()] == [
        "aclImdb_v1.tar.gz"
    ]  # the download matched its checksum: kept, not fetched again


def test_the_archive_is_downloaded_once_then_read_from_the_cache(tmp_path, http_dir):
    served, url = http_dir
    archive = write_archive(served / "aclImdb_v1.tar.gz", review_members(per_folder=3))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    params = FetchParams(url=f"{url}/aclImdb_v1.tar.gz", sha256=digest, reviews_per_folder=3)
    os.environ[CACHE_ENV] = str(tmp_path / "cache")
    try:
        cached = cached_archive(params)
        assert cached.read_bytes() == archive.read_bytes()
        archive.unlink()  # the server no longer has it: the cached copy is used
        assert cached_archive(params) == cached
        cached.write_bytes(b"damaged")  # a cached copy that fails its checksum is fetched again (and here cannot be)
        with pytest.raises(PipelineError, match="HTTP 404"):
            cached_archive(params)
        assert not cached.exists() or cached.read_bytes() == b"damaged"
    finally:
        del os.environ[CACHE_ENV]


class FlakyHandler(http.server.BaseHTTPRequestHandler):
    """Serves `server.payload`, honouring Range requests, but cuts the first `server.drops`
    responses after a third of their bytes, as a failing network does."""

    def do_GET(self):
        server = self.server
        server.ranges.append(self.headers.get("Range"))
        start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0]) if self.headers.get("Range") else 0
        body = server.payload[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.drops > 0:
            server.drops -= 1
            body = body[: len(body) // 3]
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture()
def flaky_server():
    """A real HTTP server on 127.0.0.1 that drops connections mid-file; yields the server."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
    server.payload, server.drops, server.ranges = os.urandom(6_000_000), 0, []
    server.url = f"http://127.0.0.1:{server.server_address[1]}/aclImdb_v1.tar.gz"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_dropped_download_resumes_where_it_stopped(tmp_path, flaky_server):
    flaky_server.drops = 2
    target = tmp_path / "got.tar.gz"
    download(flaky_server.url, target)
    assert target.read_bytes() == flaky_server.payload
    # Three requests: the whole file, then twice the rest from the last byte written (whole
    # chunks: what was cut mid-chunk is fetched again).
    first, *resumed = flaky_server.ranges
    starts = [int(header.removeprefix("bytes=").rstrip("-")) for header in resumed]
    assert first is None and len(starts) == 2
    assert 0 < starts[0] <= len(flaky_server.payload) // 3 < starts[1] < len(flaky_server.payload)


def test_a_download_that_keeps_dropping_fails_and_leaves_no_partial_file(tmp_path, flaky_server):
    flaky_server.drops = 10**6
    target = tmp_path / "got.tar.gz"
    with pytest.raises(
        PipelineError, match=r"failed after 3 attempts: .*(IncompleteRead|Connection broken|connection closed)"
    ):
        download(flaky_server.url, target, attempts=3)
    assert len(flaky_server.ranges) == 3 and not target.exists() and list(tmp_path.iterdir()) == []


def test_a_server_that_never_answers_is_given_up_on_in_bounded_time(tmp_path):
    """Every network wait has a timeout: a server that accepts the connection and then says
    nothing costs at most attempts x retries x the read timeout."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; nobody answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/aclImdb_v1.tar.gz"
        start = time.monotonic()
        with pytest.raises(PipelineError, match=r"failed after 1 attempts: .*[Tt]imed? ?out"):
            download(url, tmp_path / "got.tar.gz", attempts=1, timeout=(1, 0.1))
        assert time.monotonic() - start < 20
    assert not (tmp_path / "got.tar.gz").exists()


# --- Archives that passed as the dataset, or ended in a traceback (issue 14) ---


def write_tar(path, members: list[tuple[str, bytes]], sizes: dict[str, int] | None = None):
    """A .tar.gz of (name, data) in order, names may repeat; `sizes` overrides a header's size."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    if sizes:  # rewrite the headers by hand: tarfile will not write a size its data does not have
        import gzip

        raw = bytearray(gzip.decompress(path.read_bytes()))
        offset = 0
        while offset < len(raw) and raw[offset]:
            header = tarfile.TarInfo.frombuf(bytes(raw[offset : offset + 512]), "utf-8", "surrogateescape")
            if header.name in sizes:
                header.size = sizes[header.name]
                raw[offset : offset + 512] = header.tobuf(tarfile.GNU_FORMAT)
            offset += 512 + -(-len(dict(members)[header.name]) // 512) * 512
        path.write_bytes(gzip.compress(bytes(raw)))
    return path


def test_a_review_packed_twice_is_refused(tmp_path):
    members = list(review_members(per_folder=3).items())
    del members[0]  # one review missing, another counted twice: the folder still has 3 files
    members.append(members[0])
    with pytest.raises(PipelineError, match=rf"{members[0][0]}: review train/pos 1 appears twice"):
        read_reviews(write_tar(tmp_path / "a.tar.gz", members), per_folder=3)


def test_an_oversized_review_is_refused_before_it_is_read(tmp_path):
    from imdb_rnn.data.archive import MAX_REVIEW_BYTES

    members = review_members(per_folder=3)
    name = "aclImdb/test/neg/1_2.txt"
    members[name] = b" " * (MAX_REVIEW_BYTES + 1)  # compresses to a few kB, like a gzip bomb
    with pytest.raises(PipelineError, match=rf"{name}: 1,048,577 bytes, more than the 1,048,576 a review may be"):
        read_reviews(write_archive(tmp_path / "a.tar.gz", members), per_folder=3)
    # A header claiming 1 GiB is refused on its size, before anything is read (the data is not there).
    bomb = [(name, b"tiny")] + [item for item in review_members(per_folder=3).items() if item[0] != name]
    archive = write_tar(tmp_path / "b.tar.gz", bomb, sizes={name: 1 << 30})
    with pytest.raises(PipelineError, match=rf"{name}: 1,073,741,824 bytes, more than"):
        read_reviews(archive, per_folder=3)


@pytest.mark.parametrize(
    "name, message",
    [
        ("aclImdb/train/pos/12345678901234567890123_9.txt", "review id 12345678901234567890123 is out of range"),
        ("aclImdb/train/pos/9223372036854775808_9.txt", "review id 9223372036854775808 is out of range"),
        ("aclImdb/train/pos/1_99.txt", "rating 99 does not fit pos (7 to 10)"),
        ("aclImdb/train/neg/1_0.txt", "rating 0 does not fit neg (1 to 4)"),
    ],
)
def test_review_ids_and_ratings_outside_the_official_layout_are_refused(tmp_path, name, message):
    members = review_members(per_folder=3)
    folder = name.rsplit("/", 1)[0]
    del members[next(key for key in members if key.startswith(folder + "/1_"))]  # keep the count right
    members[name] = b"a review"
    with pytest.raises(PipelineError, match=re.escape(f"{name}: {message}")):
        read_reviews(write_archive(tmp_path / "a.tar.gz", members), per_folder=3)


def test_a_folder_given_as_the_archive_is_named_as_one(tmp_path):
    result = sh(
        ["python", "-m", "stages.fetch", str(tmp_path / "out.parquet"), str(tmp_path / "unlabeled.parquet")],
        default_params_file(tmp_path / "project").parent,
        check=False,
        IMDB_ARCHIVE=str(tmp_path),
    )
    assert (
        result.returncode == 1
        and result.stderr == f"error: IMDB_ARCHIVE={tmp_path}: is a directory, not the .tar.gz archive\n"
    )
    assert not (tmp_path / "out.parquet").exists()

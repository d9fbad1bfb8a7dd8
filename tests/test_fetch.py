"""fetch on tiny archives in the official layout, and downloads from a real local HTTP server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pandas as pd
import pytest

from conftest import ROOT, make_project, review_members, sh, write_archive
from stages.common import PipelineError
from stages.fetch import download, read_reviews


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
    reviews = read_reviews(archive, per_folder=3)
    assert list(reviews.columns) == ["split", "label", "review_id", "rating", "text"]
    assert len(reviews) == 12
    assert reviews.groupby(["split", "label"]).size().tolist() == [3, 3, 3, 3]
    assert (reviews[reviews.label == 1].rating >= 7).all() and (reviews[reviews.label == 0].rating <= 4).all()
    # The same reviews packed in another order give the same table.
    shuffled = dict(reversed(list(review_members(per_folder=3).items())))
    again = read_reviews(write_archive(tmp_path / "b.tar.gz", shuffled), per_folder=3)
    pd.testing.assert_frame_equal(reviews, again)


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
    archive = write_archive(tmp_path / "a.tar.gz", review_members(per_folder=3), links={"aclImdb/train/pos/7_9.txt": "/etc/passwd"})
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
    result = sh(["python", "-m", "stages.fetch", "data/raw/reviews.parquet"], project, check=False, IMDB_ARCHIVE="")
    assert result.returncode == 1
    assert expected in result.stderr and actual in result.stderr
    assert not (project / "data").exists()


def test_missing_local_archive_is_named(tmp_path):
    result = sh(["python", "-m", "stages.fetch", str(tmp_path / "out.parquet")], ROOT, check=False,
                IMDB_ARCHIVE=str(tmp_path / "nope.tar.gz"))
    assert result.returncode == 1 and "nope.tar.gz: no such file" in result.stderr
    assert not (tmp_path / "out.parquet").exists()

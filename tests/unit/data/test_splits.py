"""imdb_rnn.data.splits: a damaged padded split, read by a stage run directly, fails in one line;
stages.split: the split by movie."""

from __future__ import annotations

import io
import sys

import numpy as np
import pandas as pd
import pytest

from imdb_rnn.data.splits import load_padded
from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.params import SplitParams
from stages.split import split, split_by_movie
from tests.helpers import default_params_file, sh


def padded_bytes(rows: int = 200) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.ones((rows, 64), "int32"), y=np.zeros(rows, "int32"))
    return buffer.getvalue()


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999], ids=["half", "most", "all-but-the-end"])
def test_a_cut_short_padded_split_is_one_line_naming_the_file(tmp_path, keep):
    data = padded_bytes()
    path = tmp_path / "train.npz"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(PipelineError) as refused:
        load_padded(path)
    assert str(refused.value).startswith(f"{path}: not a padded split: ") and "\n" not in str(refused.value)


def test_a_padded_split_of_the_wrong_shape_is_refused(tmp_path):
    path = tmp_path / "val.npz"
    np.savez(path, x=np.ones(10, "float32"), y=np.zeros(10, "int32"))
    with pytest.raises(PipelineError, match="expected integer token ids"):
        load_padded(path)


def run_train_stage(padded, tmp_path):
    """The train stage's own command on `padded`, its outputs in tmp_path, with the committed params."""
    return sh(
        [sys.executable, "-m", "stages.train", str(padded), "--unlabeled", str(tmp_path / "unlabeled")]
        + [f"--{name}={tmp_path / name}" for name in ("model", "run-file", "metrics", "history")],
        default_params_file(tmp_path / "project").parent,
        check=False,
    )


def test_the_train_stage_run_directly_on_a_cut_short_split_fails_in_one_line(tmp_path):
    """A 29-line zipfile.BadZipFile traceback before: `dvc repro` restores the file first, but a
    stage's own command is documented and must fail in one line too."""
    padded = tmp_path / "padded"
    padded.mkdir()
    data = padded_bytes()
    (padded / "train.npz").write_bytes(data[: len(data) // 2])
    result = run_train_stage(padded, tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"error: {padded / 'train.npz'}: not a padded split: File is not a zip file\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["padded", "project"]  # nothing written


def test_the_train_stage_refuses_data_padded_with_other_pad_params(tmp_path):
    """It trained on them, exit 0 (issue 30): train is given the pad params and checks vocab.json."""
    from imdb_rnn.data.text import Vocabulary

    padded = tmp_path / "padded"
    padded.mkdir()
    for name in ("train", "val"):
        (padded / f"{name}.npz").write_bytes(padded_bytes())
    Vocabulary(["", "[UNK]", "good"], 64, "post", "pre", 1, 150_000).save(padded / "vocab.json")
    result = run_train_stage(padded, tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {padded / 'vocab.json'}: the padded data was made with pad.max_features 150000 (params.yaml: "
        "10000), pad.max_len 64 (params.yaml: 500), pad.padding post (params.yaml: pre): "
        "rebuild it with `dvc repro pad`\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["padded", "project"]  # nothing written


def movie_reviews(movies: int = 400, seed: int = 0) -> pd.DataFrame:
    """Reviews of `movies` movies of 1 to 30 reviews each, most of them few, as in the archive (a
    fifth of its movies have one review); some movies mostly positive, some mostly negative."""
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.geometric(0.2, movies), 30)
    leaning = rng.uniform(0, 1, movies)
    return pd.DataFrame(
        {
            "movie": np.repeat([f"tt{index:07d}" for index in range(movies)], sizes),
            "label": (rng.uniform(0, 1, sizes.sum()) < np.repeat(leaning, sizes)).astype("int64"),
            "review_id": np.arange(sizes.sum()),
        }
    )


@pytest.mark.parametrize("seed", [0, 42])
@pytest.mark.parametrize("leave_out", [0, 97], ids=["all", "some-left-out"])
def test_split_by_movie_keeps_movies_apart_with_exact_sizes_and_label_shares(seed, leave_out):
    reviews = movie_reviews()
    val_size = len(reviews) // 5
    train, val = split_by_movie(reviews, len(reviews) - val_size - leave_out, val_size, seed)
    assert (len(train), len(val)) == (len(reviews) - val_size - leave_out, val_size)
    assert not set(train.movie) & set(val.movie)
    assert not set(train.review_id) & set(val.review_id)
    for side in (train, val):  # stratified: each side's positives are its share of them, rounded
        assert abs(side.label.sum() - len(side) * reviews.label.mean()) <= 1
    again, _ = split_by_movie(reviews, len(train), val_size, seed)
    pd.testing.assert_frame_equal(train, again)  # seeded
    other, _ = split_by_movie(reviews, len(train), val_size, seed + 1)
    assert set(other.movie) != set(train.movie)


def test_split_by_movie_refuses_sizes_whole_movies_cannot_make():
    # Ten reviews a movie: validation cuts one to make 105, so train cannot be all the rest.
    reviews = movie_reviews().assign(movie=lambda frame: frame.review_id // 10)
    with pytest.raises(PipelineError, match=r"split.train_size [0-9,]+: whole movies fall 5 reviews short"):
        split_by_movie(reviews, len(reviews) - 105, 105, 0)


def test_the_split_stage_refuses_to_group_by_movie_without_the_movies(tmp_path):
    raw = tmp_path / "reviews.parquet"
    movie_reviews().assign(split="train", rating=1, text="a", movie=None).to_parquet(raw)
    params = {"train_size": 1000, "val_size": 500, "seed": 0}
    with pytest.raises(PipelineError, match=r"no movie for .* training reviews .*urls_.*split.group_by: none"):
        split(SplitParams(**params, group_by="movie"), raw, tmp_path / "split")
    assert not (tmp_path / "split").exists()
    split(SplitParams(**params, group_by="none"), raw, tmp_path / "split")
    assert len(pd.read_parquet(tmp_path / "split/val.parquet")) == 500

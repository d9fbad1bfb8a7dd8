"""The `pretrain` section and `train.init`: a bad value is refused by `imdb-params` in one line naming the key."""

from __future__ import annotations

import pytest

from tests.helpers import ROOT, default_params_file, edit_params, sh


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"pretrain": {"window": 0}}, "params.yaml: pretrain.window: Input should be greater than or equal to 1"),
        ({"pretrain": {"method": "bert"}}, "params.yaml: pretrain.method: Input should be 'none' or 'region'"),
        ({"pretrain": {"negative": 3}}, "params.yaml: pretrain.negative: unknown key"),
        (
            {"train": {"init": "pretrained"}},
            "params.yaml: train.init pretrained needs a pretrain stage that trains something (pretrain.method)",
        ),
        (
            {"train": {"init": "region", "cell": "gru", "bidirectional": True}, "pretrain": {"method": "region"}},
            "params.yaml: train.init region: pretrain.embedding_dim/units 128/32 must equal "
            "train.embedding_dim/units 32/32",
        ),
    ],
)
def test_a_bad_pretrain_param_is_refused_in_one_line_naming_the_key(tmp_path, edit, message):
    params = default_params_file(tmp_path)
    edit_params(params, edit)
    result = sh(["imdb-params", str(params)], ROOT, check=False)
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and message in lines[0].replace(str(params), "params.yaml"), lines

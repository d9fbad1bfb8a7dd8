"""imdb-preset: presets merge onto the defaults and stay valid."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from imdb_rnn.cli.preset import merge
from imdb_rnn.runtime.errors import PipelineError
from imdb_rnn.runtime.params import Params
from tests.helpers import DEFAULT_PARAMS_TEXT, ROOT, default_params_file, sh

# --- presets ---


def test_preset_merge_overrides_values_and_refuses_unknown_sections():
    params = {"train": {"units": 32, "cell": "gru"}, "pad": {"max_len": 500}}
    merge(params, {"train": {"units": 64}})
    assert params == {"train": {"units": 64, "cell": "gru"}, "pad": {"max_len": 500}}
    with pytest.raises(PipelineError, match=r"trian: not a section of params\.yaml"):
        merge(params, {"trian": {"units": 1}})


def test_every_preset_is_valid_on_top_of_the_defaults():
    defaults = YAML(typ="safe").load(DEFAULT_PARAMS_TEXT)
    for preset in sorted((ROOT / "presets").glob("*.yaml")):
        params = YAML(typ="safe").load(DEFAULT_PARAMS_TEXT)
        merge(params, YAML(typ="safe").load(preset.read_text()))
        Params.model_validate(params)
        assert params.keys() == defaults.keys(), preset.name


@pytest.mark.parametrize("preset", ["seed", "best"])
def test_preset_applies_in_one_command_and_keeps_comments(tmp_path, preset):
    params = default_params_file(tmp_path)
    sh(["imdb-preset", f"presets/{preset}.yaml", str(params)], ROOT)
    applied = YAML(typ="safe").load(params.read_text())
    wanted = YAML(typ="safe").load((ROOT / "presets" / f"{preset}.yaml").read_text())
    for section, values in wanted.items():
        assert {key: applied[section][key] for key in values} == values
    assert "# pre | post" in params.read_text()  # comments kept
    if preset == "seed":  # the seed is the default, and it undoes every other preset
        assert params.read_text() == DEFAULT_PARAMS_TEXT
        for other in sorted((ROOT / "presets").glob("*.yaml")):
            sh(["imdb-preset", str(other), str(params)], ROOT)
            sh(["imdb-preset", "presets/seed.yaml", str(params)], ROOT)
            seed = YAML(typ="safe").load(params.read_text())  # comments may shift a column
            assert seed == YAML(typ="safe").load(DEFAULT_PARAMS_TEXT), other.name


def test_bad_preset_is_refused_and_params_unchanged(tmp_path):
    params, preset = default_params_file(tmp_path), tmp_path / "bad.yaml"
    preset.write_text("train:\n  units: 0\n")
    result = sh(["imdb-preset", str(preset), str(params)], ROOT, check=False)
    assert (
        result.returncode == 1
        and result.stderr.strip() == f"error: {preset}: train.units: Input should be greater than 0 (got 0)"
    )
    assert params.read_text() == DEFAULT_PARAMS_TEXT


BROKEN_PARAMS = [
    (
        "tab",
        lambda path: path.write_text(DEFAULT_PARAMS_TEXT.replace("  units:", "\tunits:")),
        "not valid YAML at line",
    ),
    ("duplicate key", lambda path: path.write_text("train:\n  units: 1\n  units: 2\n"), 'duplicate key "units"'),
    ("not UTF-8", lambda path: path.write_bytes(b"train:\n  cell: \xff\n"), "not valid UTF-8 (byte 0xff at offset 15)"),
    ("a list", lambda path: path.write_text("- train\n"), "expected a mapping of sections, got list"),
    ("empty", lambda path: path.write_text(""), "is empty"),
    ("missing", lambda path: None, "cannot read: No such file or directory"),
    ("a folder", lambda path: path.mkdir(), "cannot read: Is a directory"),
    ("nested 500 deep", lambda path: path.write_text("a: " + "[" * 500 + "]" * 500), "nested too deep"),
]


@pytest.mark.parametrize("make, message", [row[1:] for row in BROKEN_PARAMS], ids=[row[0] for row in BROKEN_PARAMS])
def test_a_broken_params_file_is_one_line_from_the_preset_command(tmp_path, make, message):
    """imdb-preset parsed params.yaml without the project's checks: 16-63-line tracebacks (issue 30)."""
    from imdb_rnn.cli.preset import apply_preset

    params = tmp_path / "params.yaml"
    make(params)
    with pytest.raises(PipelineError) as refused:
        apply_preset(ROOT / "presets" / "seed.yaml", params)
    assert str(refused.value).startswith(f"{params}: ") and message in str(refused.value), str(refused.value)

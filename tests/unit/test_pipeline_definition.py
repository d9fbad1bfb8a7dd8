"""dvc.yaml is the whole truth: every stage's code deps and params, the model's bundle, lineage."""

from __future__ import annotations

import ast

import pytest
from ruamel.yaml import YAML

from imdb_rnn.runtime.params import load_params, param_values
from imdb_rnn.tracking import (
    lineage,
    registry,
)
from tests.helpers import ROOT, default_params_file, module_file, project_imports

DVC_YAML = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())
STAGE_MODULES = {name: stage["cmd"].split()[2] for name, stage in DVC_YAML["stages"].items()}

# --- dvc.yaml is the whole truth: code deps and params of every stage ---


def test_every_stage_is_a_python_module_of_stages():
    assert all(module.startswith("stages.") for module in STAGE_MODULES.values()), STAGE_MODULES


@pytest.mark.parametrize("stage", sorted(STAGE_MODULES))
def test_no_stage_imports_another_stage(stage):
    others = set(STAGE_MODULES.values()) - {STAGE_MODULES[stage]}
    assert project_imports(STAGE_MODULES[stage]) & others == set()


def code_deps_of(module: str) -> set[str]:
    """The files a stage runs: its imports, plus the code a model it registers runs."""
    modules = project_imports(module)
    if "imdb_rnn.tracking.registry" in modules:
        modules |= set(registry.BUNDLED_MODULES)
    return {str(module_file(name)) for name in modules}


@pytest.mark.parametrize("stage", sorted(STAGE_MODULES))
def test_code_deps_are_exactly_the_modules_the_stage_imports(stage):
    declared = {dep for dep in DVC_YAML["stages"][stage]["deps"] if dep.startswith(("stages/", "src/"))}
    imported = code_deps_of(STAGE_MODULES[stage])
    assert {"missing in dvc.yaml": imported - declared, "not imported": declared - imported} == {
        "missing in dvc.yaml": set(),
        "not imported": set(),
    }


@pytest.mark.parametrize("stage", sorted(STAGE_MODULES))
def test_params_are_exactly_those_the_stage_reads(stage):
    module = __import__(STAGE_MODULES[stage], fromlist=["PARAMS"])
    declared = DVC_YAML["stages"][stage].get("params", [])
    assert sorted(declared) == sorted(module.PARAMS)


def test_the_logged_model_bundles_exactly_what_it_imports():
    assert set(registry.BUNDLED_MODULES) == project_imports("imdb_rnn.serving.pyfunc")


def test_package_init_files_hold_only_a_docstring():
    """Importing a package runs no code of its own, so dvc.yaml's deps need not list __init__.py."""
    for init in [*(ROOT / "src").rglob("__init__.py"), ROOT / "stages" / "__init__.py"]:
        body = ast.parse(init.read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant), init


def test_a_stage_cannot_read_params_it_does_not_declare(tmp_path):
    params = load_params(default_params_file(tmp_path), keys=("train", "mlflow.experiment_name"))
    assert params.train.units == 32 and params.mlflow.experiment_name == "imdb-sentiment"
    with pytest.raises(AttributeError):
        _ = params.pad
    with pytest.raises(AttributeError):
        _ = params.mlflow.registered_model_name
    values = param_values(params, ("train", "mlflow.experiment_name"))
    assert values["train.units"] == 32 and values["mlflow.experiment_name"] == "imdb-sentiment"
    assert not any(key.startswith(("pad.", "evaluate.", "mlflow.registered")) for key in values)


def test_upstream_params_and_md5_come_from_dvc_lock(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text("""schema: '2.0'
stages:
  pad:
    cmd: python -m stages.pad data/split data/padded
    params:
      params.yaml:
        pad:
          max_len: 64
          padding: pre
    outs:
    - path: data/padded
      md5: abc.dir
  train:
    params:
      params.yaml:
        mlflow.experiment_name: x
        train:
          units: 8
    outs:
    - path: models/model.keras
      md5: def
""")
    assert lineage.upstream_params(("fetch", "pad"), lock) == {"pad.max_len": 64, "pad.padding": "pre"}
    assert lineage.upstream_params(("train",), lock) == {"mlflow.experiment_name": "x", "train.units": 8}
    assert lineage.data_md5_tags(lock) == {"data.padded.md5": "abc.dir"}
    assert lineage.upstream_params(("pad",), tmp_path / "missing.lock") == {}


def test_dvc_analytics_are_off_in_the_project_config():
    """DVC sends usage reports unless its config says no; the project's own config does."""
    from tests.helpers import sh

    env = {"DVC_NO_ANALYTICS": ""}  # the tests' own switch off: read the config alone
    assert sh(["dvc", "config", "--project", "core.analytics"], ROOT, **env).stdout.strip() == "false"


def test_no_test_reads_the_workspace_params_yaml():
    """`make test-fast` failed 4 tests after any valid edit of params.yaml (a preset applied, `dvc exp
    run -S`): the tests read the committed defaults (tests.helpers.DEFAULT_PARAMS, default_params_file)."""
    workspace = "ROOT / " + '"params.yaml"'  # (split, or this file would find itself)
    readers = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.name != "helpers.py" and workspace in path.read_text()
    ]
    assert readers == []

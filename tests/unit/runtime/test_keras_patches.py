"""imdb_rnn.runtime.keras_patches: each use of Keras' private code still finds what it was written
against. On a new Keras these fail naming the patch to re-check; the private names are read from
Keras' source, so checking the multi-worker TensorFlow patch does not import TensorFlow."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from imdb_rnn.runtime import keras_patches
from tests.helpers import sh

# Each patch: the private names it uses (as its code imports them) and their arguments (None: a constant).
PRIVATE_NAMES = {
    "tensorflow_only_if_loaded": {
        "keras.src.utils.module_utils.tensorflow": None,
        "keras.src.utils.module_utils.LazyModule.available": "self",  # reads _available, set here
    },
    "build_training_state": {
        "keras.src.trainers.trainer.Trainer._symbolic_build": "self, iterator=None, data_batch=None",
        "keras.src.backend.tensorflow.trainer.TensorFlowTrainer._maybe_symbolic_build": (
            "self, iterator=None, data_batch=None"
        ),
    },
    "average_scalar_logs_over_workers": {
        "keras.src.backend.tensorflow.trainer.reduce_per_replica": "values, strategy, reduction",
        "keras.src.backend.tensorflow.trainer._collective_all_reduce_multi_worker": "strategy",
    },
    "weights_start_at_zero": {  # keras.layers.Layer's own method, replaced for a while
        "keras.src.layers.layer.Layer.add_weight": (
            "self, *args, shape=None, initializer=None, dtype=None, trainable=True, autocast=True, regularizer=None, "
            "constraint=None, aggregation='none', overwrite_with_gradient=False, name=None"
        ),
    },
}
KERAS_SOURCE = Path(keras.__file__).parent


def found_in_source(name: str) -> str | None:
    """The arguments of the function or method `name` (None for a constant), read from Keras' source
    files; KeyError if it is not there."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        path = KERAS_SOURCE.joinpath(*parts[1:split]).with_suffix(".py")
        if path.is_file():
            break
    else:
        raise KeyError(name)
    nodes = ast.parse(path.read_text(encoding="utf-8")).body
    for part in parts[split:]:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == part:
                break
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == part for t in node.targets):
                break
        else:
            raise KeyError(name)
        nodes = getattr(node, "body", [])
    return ast.unparse(node.args) if isinstance(node, ast.FunctionDef) else None


@pytest.mark.parametrize("patch", sorted(PRIVATE_NAMES))
def test_each_patch_finds_the_private_keras_it_was_written_for(patch):
    assert keras.__version__ == keras_patches.WRITTEN_FOR, (
        f"Keras {keras.__version__}: keras_patches.{patch} was written for Keras {keras_patches.WRITTEN_FOR}; "
        "re-check it against this Keras (does Keras now do it, or offer a public way?), then update WRITTEN_FOR"
    )
    changed = {}
    for name, arguments in PRIVATE_NAMES[patch].items():
        try:
            found = found_in_source(name)
        except KeyError:
            found = "gone"
        if found != arguments:
            changed[name] = found
    assert changed == {}, f"keras_patches.{patch}: Keras {keras.__version__} changed what it uses: {changed}"
    assert callable(getattr(keras_patches, patch))


def test_training_on_jax_seeds_and_saves_a_model_without_loading_tensorflow(tmp_path):
    code = (
        "import sys; from imdb_rnn.runtime.devices import use_backend; use_backend('jax', 3); import keras; "
        "keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]).save(sys.argv[1]); "
        "print('tensorflow' in sys.modules)"
    )
    result = sh([sys.executable, "-c", code, str(tmp_path / "model.keras")], tmp_path)
    assert result.stdout.strip() == "False" and (tmp_path / "model.keras").is_file(), result.stderr


def test_the_training_state_is_built_from_a_sample_batch():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    keras_patches.build_training_state(model, (np.zeros((2, 3), "float32"), np.zeros((2, 1), "float32")))
    assert model.optimizer.built and model.optimizer.variables
    model.fit(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"), epochs=1, verbose=0)  # not built again


def test_weights_start_at_zero_only_in_the_block():
    with keras_patches.weights_start_at_zero():
        inside = keras.layers.Dense(3)
        inside.build((None, 2))
    outside = keras.layers.Dense(3)
    outside.build((None, 2))
    assert not np.asarray(inside.kernel).any() and np.asarray(outside.kernel).any()

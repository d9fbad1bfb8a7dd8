"""imdb_rnn.models.rnn: every option builds, compiles and predicts; masking; adversarial training."""

from __future__ import annotations

import numpy as np
import pytest

from imdb_rnn.models.rnn import build_model
from imdb_rnn.runtime.params import load_params
from tests.helpers import ROOT

# --- the model: every option builds, compiles and predicts ---

DEFAULT_TRAIN = load_params(ROOT / "params.yaml").train
# Every value of every structural option at least once (the full product would take minutes).
OPTIONS = [
    {"cell": cell, "pooling": pooling, "bidirectional": bidirectional, "mask_padding": mask}
    for cell, pooling, bidirectional, mask in [
        ("simple_rnn", "last", False, False),
        ("lstm", "mean", True, True),
        ("gru", "max", False, True),
        ("gru", "last", True, False),
        ("simple_rnn", "mean", True, True),
        ("lstm", "max", False, False),
    ]
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(str(v) for v in o.values()))
def test_build_model_for_every_option(options, tmp_path):
    params = DEFAULT_TRAIN.model_copy(
        update=dict(
            options,
            units=4,
            embedding_dim=3,
            layers=2,
            embedding_dropout=0.1,
            output_dropout=0.2,
            dropout=0.1,
            clipnorm=1.0,
            optimizer="adam",
            word_dropout=0.1,
        )
    )
    model = build_model(params, vocabulary_size=20, max_len=7)
    x = np.array([[0, 0, 3, 4, 5, 6, 7], [2, 3, 4, 0, 0, 0, 0]], dtype="int32")
    probability = np.asarray(model.predict(x, verbose=0))
    assert probability.shape == (2, 1) and ((probability > 0) & (probability < 1)).all()
    names = [layer.__class__.__name__ for layer in model.layers]
    recurrent = (
        "Bidirectional"
        if options["bidirectional"]
        else {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}[options["cell"]]
    )
    assert names.count(recurrent) == 2 and names[0] == "Embedding" and names[1] == "SpatialDropout1D"
    assert names[2] == "Dropout" and model.layers[2].noise_shape == (None, None, 1)  # word dropout: whole steps
    assert model.layers[0].mask_zero == options["mask_padding"]
    max_pooling = "MaskedGlobalMaxPooling1D" if options["mask_padding"] else "GlobalMaxPooling1D"
    pooled = {"last": None, "mean": "GlobalAveragePooling1D", "max": max_pooling}[options["pooling"]]
    assert (pooled in names) if pooled else not any("Pooling" in name for name in names)
    assert model.optimizer.clipnorm == 1.0
    # Loaded for prediction, weights drawn as zeros first (a cold start's shortcut), it is the same model.
    from imdb_rnn.models.inference import load_keras_model

    model.save(tmp_path / "model.keras")
    loaded = load_keras_model(tmp_path / "model.keras")
    for saved, restored in zip(model.weights, loaded.weights, strict=False):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(restored))
    np.testing.assert_array_equal(np.asarray(loaded.predict(x, verbose=0)), probability)


def test_the_default_model_is_the_classic_one():
    model = build_model(DEFAULT_TRAIN, vocabulary_size=10_000, max_len=500)
    assert [layer.__class__.__name__ for layer in model.layers] == ["Embedding", "SimpleRNN", "Dense"]
    assert model.count_params() == 10_000 * 32 + (32 * 32 + 32 * 32 + 32) + 33
    assert model.optimizer.__class__.__name__ == "RMSprop"


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_masked_model_ignores_the_padding(pooling, bidirectional):
    """A review scores the same whatever padding its batch gives it (bucketing relies on it)."""
    params = DEFAULT_TRAIN.model_copy(
        update={
            "cell": "gru",
            "mask_padding": True,
            "pooling": pooling,
            "units": 4,
            "embedding_dim": 3,
            "bidirectional": bidirectional,
        }
    )
    model = build_model(params, vocabulary_size=20, max_len=None)
    post = np.array([[3, 4, 5, 0, 0, 0, 0, 0, 0]], dtype="int32")
    pre = post[:, ::-1].copy()
    pre[0, -3:] = [3, 4, 5]
    alone = np.asarray(model.predict(post[:, :3], verbose=0))
    for padded in (post, pre, post[:, :4]):
        np.testing.assert_allclose(np.asarray(model.predict(padded, verbose=0)), alone, atol=1e-6)


def test_adversarial_training_adds_the_loss_of_worse_embeddings_and_saves_the_plain_model(tmp_path):
    """train.adversarial: the loss trained on is the plain one plus the loss with the embeddings moved
    against the model, which is larger; what is saved is the plain Sequential, same weights."""
    from imdb_rnn.models.adversarial import classifier

    params = DEFAULT_TRAIN.model_copy(
        update={
            "cell": "gru",
            "mask_padding": True,
            "pooling": "mean",
            "units": 4,
            "embedding_dim": 3,
            "optimizer": "adam",
            "adversarial": 0.5,
        }
    )
    model = build_model(params, vocabulary_size=20, max_len=None)
    x = np.array([[3, 4, 5, 6, 7, 0], [2, 3, 4, 0, 0, 0], [9, 8, 7, 6, 5, 4], [5, 5, 0, 0, 0, 0]], dtype="int32")
    y = np.array([1, 0, 1, 0], dtype="float32")
    model.fit(x, y, epochs=1, verbose=0)
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.metrics_variables],
        x,
        y,
        None,
    )
    trained_on, (plain, *_) = model.compute_loss_and_updates(
        *state, training=True, optimizer_variables=[v.value for v in model.optimizer.variables]
    )
    assert float(trained_on) > 2 * float(plain) > 0  # the perturbed loss is above the plain one
    model.strength = 0.0
    off, _ = model.compute_loss_and_updates(
        *state, training=True, optimizer_variables=[v.value for v in model.optimizer.variables]
    )
    assert float(off) == pytest.approx(float(plain))
    saved = classifier(model)
    plain_model = build_model(params.model_copy(update={"adversarial": 0.0}), vocabulary_size=20, max_len=None)
    assert "EmbeddingPerturbation" in [layer.__class__.__name__ for layer in model.layers]
    assert [layer.__class__.__name__ for layer in saved.layers] == [
        layer.__class__.__name__ for layer in plain_model.layers
    ]
    assert type(saved) is type(plain_model)
    np.testing.assert_array_equal(np.asarray(saved.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)))
    saved.save(tmp_path / "model.keras")
    from imdb_rnn.models.inference import load_keras_model

    np.testing.assert_array_equal(
        np.asarray(load_keras_model(tmp_path / "model.keras").predict(x, verbose=0)),
        np.asarray(model.predict(x, verbose=0)),
    )

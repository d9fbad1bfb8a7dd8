"""Unit tests (the fast tier, `make test-fast`): the pieces every stage is made of, without the archive."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from ruamel.yaml import YAML

os.environ.setdefault("KERAS_BACKEND", "jax")  # the project's default, before Keras is first imported

from helpers import ROOT, project_imports  # noqa: E402
from stages import lineage, registry  # noqa: E402
from stages.common import PipelineError  # noqa: E402
from stages.model import build_model  # noqa: E402
from stages.params import Params, TrainParams, load_params, param_values  # noqa: E402
from stages.preset import merge  # noqa: E402
from stages.scoring import scores  # noqa: E402
from stages.text import OOV_ID, PAD_ID, Vocabulary, terms, texts_to_padded, tokenize  # noqa: E402

pytestmark = pytest.mark.fast
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
    if "stages.registry" in modules:
        modules |= {f"stages.{name}" for name in registry.BUNDLED_MODULES if name != "__init__"}
    return {name.replace(".", "/") + ".py" for name in modules}


@pytest.mark.parametrize("stage", sorted(STAGE_MODULES))
def test_code_deps_are_exactly_the_modules_the_stage_imports(stage):
    declared = {dep for dep in DVC_YAML["stages"][stage]["deps"] if dep.startswith("stages/")}
    imported = code_deps_of(STAGE_MODULES[stage])
    assert {"missing in dvc.yaml": imported - declared, "not imported": declared - imported} == \
        {"missing in dvc.yaml": set(), "not imported": set()}


@pytest.mark.parametrize("stage", sorted(STAGE_MODULES))
def test_params_are_exactly_those_the_stage_reads(stage):
    module = __import__(STAGE_MODULES[stage], fromlist=["PARAMS"])
    declared = DVC_YAML["stages"][stage].get("params", [])
    assert sorted(declared) == sorted(module.PARAMS)


def test_the_logged_model_bundles_exactly_what_it_imports():
    bundled = {f"stages.{name}" for name in registry.BUNDLED_MODULES if name != "__init__"}
    assert bundled == project_imports("stages.serving_model")
    assert (ROOT / "stages" / "__init__.py").is_file()


def test_a_stage_cannot_read_params_it_does_not_declare():
    params = load_params(ROOT / "params.yaml", keys=("train", "mlflow.experiment_name"))
    assert params.train.units == 32 and params.mlflow.experiment_name == "imdb-sentiment"
    with pytest.raises(AttributeError):
        params.pad
    with pytest.raises(AttributeError):
        params.mlflow.registered_model_name
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


# --- text: one preprocessing for pad and prediction ---

def test_tokenize_lowercases_and_drops_line_breaks_and_punctuation():
    assert tokenize("Great film!<br /><br />I LOVED it... 10/10") == ["great", "film", "i", "loved", "it", "1010"]
    assert tokenize("<BR/>Don't") == ["dont"]
    assert tokenize("?!<br />") == []


def test_terms_add_each_bigram_after_the_word_that_ends_it():
    assert terms(["not", "good", "at", "all"], 1) == ["not", "good", "at", "all"]
    assert terms(["not", "good", "at"], 2) == ["not", "good", "not good", "at", "good at"]
    assert terms([], 2) == []


def test_vocabulary_ranks_by_count_then_alphabetically_whatever_the_order():
    texts = ["b a c", "a b", "d", "c"]
    vocabulary = Vocabulary.fit(texts, max_features=5, max_len=4, padding="pre", truncating="pre")
    assert vocabulary.tokens == ["", "[UNK]", "a", "b", "c"]  # a, b, c twice; d once is cut
    assert Vocabulary.fit(list(reversed(texts)), 5, 4, "pre", "pre").tokens == vocabulary.tokens


def test_unknown_words_are_oov_and_padding_follows_the_vocabulary():
    pre = Vocabulary(["", "[UNK]", "good", "film"], max_len=4, padding="pre", truncating="pre")
    assert texts_to_padded(["good unseen film"], pre).tolist() == [[PAD_ID, 2, OOV_ID, 3]]
    post = Vocabulary(pre.tokens, max_len=2, padding="post", truncating="post")
    assert texts_to_padded(["good", "film good unseen"], post).tolist() == [[2, PAD_ID], [3, 2]]
    assert texts_to_padded(["film good unseen"], pre).tolist()[0][-3:] == [3, 2, OOV_ID]


def test_bigrams_in_the_vocabulary_follow_their_last_word_and_unknown_ones_are_left_out():
    vocabulary = Vocabulary.fit(["not good", "not good", "very good"], max_features=10, max_len=6,
                                padding="post", truncating="pre", ngrams=2)
    ids = {token: index for index, token in enumerate(vocabulary.tokens)}
    assert "not good" in ids
    assert texts_to_padded(["not good film"], vocabulary).tolist() == [[ids["not"], ids["good"], ids["not good"], OOV_ID, 0, 0]]


def test_vocabulary_file_round_trips_and_a_bad_one_is_one_line(tmp_path):
    vocabulary = Vocabulary(["", "[UNK]", "x"], 3, "pre", "post", 2)
    vocabulary.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json") == vocabulary
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(PipelineError, match="bad.json: not a readable vocabulary file"):
        Vocabulary.load(tmp_path / "bad.json")


# --- the model: every option builds, compiles and predicts ---

DEFAULT_TRAIN = load_params(ROOT / "params.yaml").train
# Every value of every structural option at least once (the full product would take minutes).
OPTIONS = [
    dict(cell=cell, pooling=pooling, bidirectional=bidirectional, mask_padding=mask)
    for cell, pooling, bidirectional, mask in [
        ("simple_rnn", "last", False, False), ("lstm", "mean", True, True), ("gru", "max", False, True),
        ("gru", "last", True, False), ("simple_rnn", "mean", True, True), ("lstm", "max", False, False),
    ]
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(str(v) for v in o.values()))
def test_build_model_for_every_option(options, tmp_path):
    params = DEFAULT_TRAIN.model_copy(update=dict(options, units=4, embedding_dim=3, layers=2, embedding_dropout=0.1,
                                                  output_dropout=0.2, dropout=0.1, clipnorm=1.0, optimizer="adam",
                                                  word_dropout=0.1))
    model = build_model(params, vocabulary_size=20, max_len=7)
    x = np.array([[0, 0, 3, 4, 5, 6, 7], [2, 3, 4, 0, 0, 0, 0]], dtype="int32")
    probability = np.asarray(model.predict(x, verbose=0))
    assert probability.shape == (2, 1) and ((probability > 0) & (probability < 1)).all()
    names = [layer.__class__.__name__ for layer in model.layers]
    recurrent = "Bidirectional" if options["bidirectional"] else {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}[options["cell"]]
    assert names.count(recurrent) == 2 and names[0] == "Embedding" and names[1] == "SpatialDropout1D"
    assert names[2] == "Dropout" and model.layers[2].noise_shape == (None, None, 1)  # word dropout: whole steps
    assert model.layers[0].mask_zero == options["mask_padding"]
    max_pooling = "MaskedGlobalMaxPooling1D" if options["mask_padding"] else "GlobalMaxPooling1D"
    pooled = {"last": None, "mean": "GlobalAveragePooling1D", "max": max_pooling}[options["pooling"]]
    assert (pooled in names) if pooled else not any("Pooling" in name for name in names)
    assert model.optimizer.clipnorm == 1.0
    # Loaded for prediction, weights drawn as zeros first (a cold start's shortcut), it is the same model.
    from stages.serving import load_keras_model

    model.save(tmp_path / "model.keras")
    loaded = load_keras_model(tmp_path / "model.keras")
    for saved, restored in zip(model.weights, loaded.weights):
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
    params = DEFAULT_TRAIN.model_copy(update=dict(cell="gru", mask_padding=True, pooling=pooling, units=4, embedding_dim=3,
                                                  bidirectional=bidirectional))
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
    from stages.adversarial import classifier

    params = DEFAULT_TRAIN.model_copy(update=dict(cell="gru", mask_padding=True, pooling="mean", units=4, embedding_dim=3,
                                                  optimizer="adam", adversarial=0.5))
    model = build_model(params, vocabulary_size=20, max_len=None)
    x = np.array([[3, 4, 5, 6, 7, 0], [2, 3, 4, 0, 0, 0], [9, 8, 7, 6, 5, 4], [5, 5, 0, 0, 0, 0]], dtype="int32")
    y = np.array([1, 0, 1, 0], dtype="float32")
    model.fit(x, y, epochs=1, verbose=0)
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in model.metrics_variables], x, y, None)
    trained_on, (plain, *_) = model.compute_loss_and_updates(*state, training=True,
                                                              optimizer_variables=[v.value for v in model.optimizer.variables])
    assert float(trained_on) > 2 * float(plain) > 0  # the perturbed loss is above the plain one
    model.strength = 0.0
    off, _ = model.compute_loss_and_updates(*state, training=True, optimizer_variables=[v.value for v in model.optimizer.variables])
    assert float(off) == pytest.approx(float(plain))
    saved = classifier(model)
    plain_model = build_model(params.model_copy(update={"adversarial": 0.0}), vocabulary_size=20, max_len=None)
    assert "EmbeddingPerturbation" in [layer.__class__.__name__ for layer in model.layers]
    assert [layer.__class__.__name__ for layer in saved.layers] == [layer.__class__.__name__ for layer in plain_model.layers]
    assert type(saved) is type(plain_model)
    np.testing.assert_array_equal(np.asarray(saved.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)))
    saved.save(tmp_path / "model.keras")
    from stages.serving import load_keras_model

    np.testing.assert_array_equal(np.asarray(load_keras_model(tmp_path / "model.keras").predict(x, verbose=0)),
                                  np.asarray(model.predict(x, verbose=0)))


# --- scoring, shared by evaluate and baseline ---

def test_scores_of_a_perfect_and_of_a_known_classifier():
    y = np.array([0, 0, 1, 1])
    perfect = scores(y, np.array([0.1, 0.2, 0.8, 0.9]), threshold=0.5)
    assert perfect["accuracy"] == perfect["f1"] == perfect["roc_auc"] == 1.0
    mixed = scores(y, np.array([0.6, 0.2, 0.8, 0.4]), threshold=0.5)
    assert mixed["accuracy"] == 0.5 and mixed["precision"] == 0.5 and mixed["recall"] == 0.5 and mixed["roc_auc"] == 0.75
    assert scores(y, np.array([0.6, 0.2, 0.8, 0.4]), threshold=0.7)["recall"] == 0.5
    assert set(mixed) == {"accuracy", "precision", "recall", "f1", "roc_auc", "loss"}


# --- presets ---

def test_preset_merge_overrides_values_and_refuses_unknown_sections():
    params = {"train": {"units": 32, "cell": "gru"}, "pad": {"max_len": 500}}
    merge(params, {"train": {"units": 64}})
    assert params == {"train": {"units": 64, "cell": "gru"}, "pad": {"max_len": 500}}
    with pytest.raises(PipelineError, match="trian: not a section of params.yaml"):
        merge(params, {"trian": {"units": 1}})


def test_every_preset_is_valid_on_top_of_the_defaults():
    defaults = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    for preset in sorted((ROOT / "presets").glob("*.yaml")):
        params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
        merge(params, YAML(typ="safe").load(preset.read_text()))
        Params.model_validate(params)
        assert params.keys() == defaults.keys(), preset.name


def test_train_params_are_frozen():
    with pytest.raises(Exception):
        DEFAULT_TRAIN.units = 3
    assert isinstance(DEFAULT_TRAIN, TrainParams)


# --- bucketed batches (stages.batches) ---

def padded_reviews(lengths: list[int], max_len: int, padding: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.zeros((len(lengths), max_len), dtype="int32")
    for row, length in enumerate(lengths):
        ids = rng.integers(1, 20, size=length)
        if padding == "post":
            x[row, :length] = ids
        else:
            x[row, max_len - length:] = ids
    return x


@pytest.mark.parametrize("padding", ["post", "pre"])
def test_bucketed_prediction_equals_the_full_length_one_for_the_same_weights(padding):
    from stages import batches

    params = DEFAULT_TRAIN.model_copy(update=dict(cell="gru", mask_padding=True, pooling="mean", bidirectional=True,
                                                  units=4, embedding_dim=3))
    model = build_model(params, vocabulary_size=20, max_len=None)
    x = padded_reviews([3, 40, 7, 64, 12, 1, 33, 50, 5, 64], max_len=64, padding=padding)
    full = np.asarray(model.predict(x, verbose=0)).ravel()
    assert batches.reads_any_length(model)
    np.testing.assert_allclose(batches.predict(model, x, padding, batch_size=3), full, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("max_len", [None, 8], ids=["any-length", "fixed-length"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_a_review_of_nothing_but_padding_gets_a_probability(pooling, max_len):
    """A review with no term the tokenizer keeps ("<br />") is all padding; a masked model would
    average over no step (NaN). It is answered as one unknown word, whether or not the model was
    built for bucketed batches (train.buckets 0, or a distributed run, builds it for max_len)."""
    from stages import batches

    params = DEFAULT_TRAIN.model_copy(update=dict(cell="gru", mask_padding=True, pooling=pooling, units=4, embedding_dim=3))
    model = build_model(params, vocabulary_size=20, max_len=max_len)
    x = np.array([[0] * 8, [3, 4, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]], dtype="int32")
    probability = batches.predict(model, x, "post", batch_size=4)
    assert np.isfinite(probability).all()
    assert probability[0] == pytest.approx(probability[2], abs=1e-6)  # as if it read one unknown word


def test_buckets_cover_every_review_once_within_max_len_and_repeat_with_the_seed():
    from stages import batches

    lengths = [3, 40, 7, 64, 12, 1, 33, 50, 5, 64, 20, 9, 18]
    x = padded_reviews(lengths, max_len=64, padding="post")
    y = np.arange(len(x)) % 2
    bounds = batches.bucket_lengths(batches.review_lengths(x), 64)
    assert len(bounds) <= batches.BUCKETS + 1 and bounds.max() == 64 and (np.diff(bounds) > 0).all()
    first = batches.training_batches(x, y, batch_size=4, padding="post", seed=7, shuffle=True)
    second = batches.training_batches(x, y, batch_size=4, padding="post", seed=7, shuffle=True)
    seen = []
    for index in range(len(first)):
        cut, labels = first[index]
        again, _ = second[index]
        np.testing.assert_array_equal(cut, again)  # bit-identical across runs
        assert cut.shape[1] <= 64 and (batches.review_lengths(cut) <= cut.shape[1]).all()
        assert batches.review_lengths(cut).tolist() == [lengths[i] for i in first.batches[index][0]]  # nothing cut off
        seen += first.batches[index][0].tolist()
    assert sorted(seen) == list(range(len(x)))
    order = [rows.tolist() for rows, _ in first.batches]
    first.on_epoch_end()
    assert [rows.tolist() for rows, _ in first.batches] != order  # a new order each epoch
    assert sum(len(batch[0]) < 4 for batch in first.batches) <= 1  # only one short batch: few shapes to compile


def test_first_sentence_is_the_first_with_a_word_cut_to_30_words():
    from stages.text import first_sentence

    assert first_sentence("Great film! Loved it.<br />Really.") == "Great film!"
    assert first_sentence("... Terrible. Avoid it.") == "Terrible."
    assert first_sentence("Wonderful<br /><br />acting? Yes.") == "Wonderful acting?"
    assert first_sentence(" ".join(["word"] * 50) + ".") == " ".join(["word"] * 30)
def test_dvc_analytics_are_off_in_the_project_config():
    """DVC sends usage reports unless its config says no; the project's own config does."""
    from helpers import sh

    env = {"DVC_NO_ANALYTICS": ""}  # the tests' own switch off: read the config alone
    assert sh(["dvc", "config", "--project", "core.analytics"], ROOT, **env).stdout.strip() == "false"


def test_a_damaged_model_file_is_called_damaged_not_missing(tmp_path):
    from stages.serving import load_keras_model

    params = load_params(ROOT / "params.yaml").train.model_copy(update={"units": 2, "embedding_dim": 2})
    good = tmp_path / "model.keras"
    build_model(params, 10, 4).save(good)
    truncated, garbage = tmp_path / "truncated.keras", tmp_path / "garbage.keras"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage.write_text("not a model")
    for path in (truncated, garbage):
        with pytest.raises(PipelineError, match=rf"^{path}: cannot load the model: not a Keras model file"):
            load_keras_model(path)
    with pytest.raises(PipelineError, match=rf"^{tmp_path / 'none.keras'}: cannot load the model: not found$"):
        load_keras_model(tmp_path / "none.keras")
    assert load_keras_model(good).count_params() == build_model(params, 10, 4).count_params()


def test_every_error_line_of_every_stage_hides_url_credentials(capsys):
    """common.run prints every stage's one-line error through the one redaction (tracking.redact)."""
    from stages import common, tracking

    def fails():
        raise PipelineError("models:/m/1: cannot load the model: API request to http://someone:s3cret@127.0.0.1:1/api failed")

    with pytest.raises(SystemExit):
        common.run(fails)
    assert capsys.readouterr().err == "error: models:/m/1: cannot load the model: API request to http://***@127.0.0.1:1/api failed\n"
    assert tracking.redact is common.redact


# --- multi-worker: each process's place in the cluster, from TF_CONFIG or KERAS_DISTRIBUTION_* ---

def multi_worker(backend: str) -> TrainParams:
    return DEFAULT_TRAIN.model_copy(update={"backend": backend, "distribute": "multi_worker"})


def test_tf_config_ranks_the_chief_first_then_the_workers(monkeypatch):
    from stages.devices import cluster

    config = {"cluster": {"worker": ["10.0.0.2:2222", "10.0.0.3:2222"], "chief": ["10.0.0.1:2222"]},
              "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    place = cluster(multi_worker("tensorflow"))
    assert (place.workers, place.rank, place.chief) == (3, 2, False)
    assert place.name(0) == "worker 0 (10.0.0.1:2222)"
    monkeypatch.setenv("TF_CONFIG", json.dumps(config | {"task": {"type": "chief", "index": 0}}))
    assert cluster(multi_worker("tensorflow")).chief


@pytest.mark.parametrize("backend, env", [
    ("tensorflow", {"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}'}),
    ("tensorflow", {"TF_CONFIG": "not json"}),
    ("jax", {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "a:1", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
             "KERAS_DISTRIBUTION_PROCESS_ID": "2"}),
])
def test_a_malformed_cluster_is_refused_in_one_line(monkeypatch, backend, env):
    from stages.devices import cluster

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(PipelineError, match=r"^(TF_CONFIG|KERAS_DISTRIBUTION_NUM_PROCESSES)") as refused:
        cluster(multi_worker(backend))
    assert "\n" not in str(refused.value)

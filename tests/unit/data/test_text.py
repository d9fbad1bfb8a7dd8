"""imdb_rnn.data.text: one preprocessing for pad and prediction."""

from __future__ import annotations

import pytest

from imdb_rnn.data.text import OOV_ID, PAD_ID, Vocabulary, terms, texts_to_padded, tokenize
from imdb_rnn.runtime.errors import PipelineError

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
    vocabulary = Vocabulary.fit(
        ["not good", "not good", "very good"], max_features=10, max_len=6, padding="post", truncating="pre", ngrams=2
    )
    ids = {token: index for index, token in enumerate(vocabulary.tokens)}
    assert "not good" in ids
    assert texts_to_padded(["not good film"], vocabulary).tolist() == [
        [ids["not"], ids["good"], ids["not good"], OOV_ID, 0, 0]
    ]


def test_vocabulary_file_round_trips_and_a_bad_one_is_one_line(tmp_path):
    vocabulary = Vocabulary(["", "[UNK]", "x"], 3, "pre", "post", 2)
    vocabulary.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json") == vocabulary
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(PipelineError, match=r"bad\.json: not a readable vocabulary file"):
        Vocabulary.load(tmp_path / "bad.json")


def test_first_sentence_is_the_first_with_a_word_cut_to_30_words():
    from imdb_rnn.data.text import first_sentence

    assert first_sentence("Great film! Loved it.<br />Really.") == "Great film!"
    assert first_sentence("... Terrible. Avoid it.") == "Terrible."
    assert first_sentence("Wonderful<br /><br />acting? Yes.") == "Wonderful acting?"
    assert first_sentence(" ".join(["word"] * 50) + ".") == " ".join(["word"] * 30)


VOCABULARY = {"tokens": ["", "[UNK]", "good"], "max_len": 4, "padding": "pre", "truncating": "pre", "ngrams": 1}


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"tokens": 5}, "tokens: Input should be a valid list (got 5)"),
        ({"tokens": ["good", "film"]}, "tokens: expected '' and '[UNK]' first (ids 0 and 1)"),
        ({"max_len": "64"}, "max_len: Input should be a valid integer (got '64')"),
        ({"max_len": -1}, "max_len: Input should be greater than 0 (got -1)"),
        ({"max_len": 0}, "max_len: Input should be greater than 0 (got 0)"),
        ({"padding": "middle"}, "padding: Input should be 'pre' or 'post' (got 'middle')"),
        ({"truncating": "pre\x00"}, "truncating: Input should be 'pre' or 'post' (got 'pre\\x00')"),
        ({"ngrams": 3}, "ngrams: Input should be less than or equal to 2 (got 3)"),
        ({"paddin": "pre"}, "paddin: unknown key"),
    ],
)
def test_a_hand_edited_vocabulary_is_refused_in_one_line_naming_the_key(tmp_path, change, expected):
    """Vocabulary.load checked only the JSON and the key names: these gave 17-23-line tracebacks
    in pad, train or predict."""
    import json

    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(VOCABULARY))
    assert Vocabulary.load(path) == Vocabulary(**VOCABULARY)
    path.write_text(json.dumps(VOCABULARY | change))
    with pytest.raises(PipelineError) as refused:
        Vocabulary.load(path)
    assert str(refused.value) == f"{path}: {expected}"


def test_padded_data_made_with_other_pad_params_is_refused_naming_each_difference(tmp_path):
    """Train fit the `best` preset's data/padded (ids to 149,999, length 1,000, padded after) with the
    default params after `git checkout params.yaml`: exit 0, validation accuracy 0.50."""
    from imdb_rnn.runtime.params import PadParams

    pad = PadParams(max_features=10, max_len=4, padding="pre", truncating="pre", ngrams=1)
    vocabulary = Vocabulary.fit(["good film", "bad film"], **pad.model_dump())
    vocabulary.save(tmp_path / "vocab.json")
    Vocabulary.load(tmp_path / "vocab.json").check_made_with(pad, "vocab.json")  # fewer tokens than max_features
    other = pad.model_copy(update={"max_features": 150_000, "padding": "post"})
    with pytest.raises(PipelineError) as refused:
        vocabulary.check_made_with(other, "vocab.json")
    assert str(refused.value) == (
        "vocab.json: the padded data was made with pad.max_features 10 (params.yaml: 150000), "
        "pad.padding pre (params.yaml: post): rebuild it with `dvc repro pad`"
    )


def test_an_empty_review_is_the_one_thing_refused():
    """One rule for imdb-predict and the served model: `imdb-predict ""` refused while the server
    answered 200, label 1, p 0.91 (issue 30)."""
    from imdb_rnn.data.text import review_problem

    assert [review_problem(text) for text in ("", " \t\n", "\u3000")] == ["empty review"] * 3
    assert [review_problem(text) for text in ("ok", "!!!", "<br />")] == [None] * 3  # answered, flagged known_words 0


def test_a_vocabulary_that_would_not_fit_in_memory_is_one_line_before_allocating(tmp_path):
    """A hand-edited "max_len": 1000000000000 gave numpy's allocation traceback, and JSON nested
    100,000 deep a RecursionError (issue 30)."""
    import json

    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(VOCABULARY | {"max_len": 10**12}))
    with pytest.raises(PipelineError) as refused:
        texts_to_padded(["good", "good film"], Vocabulary.load(path))
    assert str(refused.value).startswith("vocabulary max_len 1,000,000,000,000: 2 reviews padded to it need 7,451 GiB")
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(PipelineError, match=r"vocab\.json: not a readable vocabulary file: maximum recursion depth"):
        Vocabulary.load(path)

"""Review text -> padded token ids: the one preprocessing used by the pad stage and by prediction."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from imdb_rnn.runtime.errors import PipelineError, describe, machine_memory
from imdb_rnn.runtime.outputs import write_text_atomic

PAD_ID, OOV_ID = 0, 1
PAD_TOKEN, OOV_TOKEN = "", "[UNK]"
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)  # the dataset's HTML line breaks
_PUNCTUATION = re.compile(r"[^\w\s]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def tokenize(text: str) -> list[str]:
    """Lowercase, drop <br /> tags, strip punctuation, split on whitespace."""
    return _PUNCTUATION.sub("", _LINE_BREAK.sub(" ", text.lower())).split()


def review_problem(text: str) -> str | None:
    """Why a review is not labeled, or None: the one rule of imdb-predict and of the served model (an
    empty review's label would be the model's answer to nothing)."""
    return None if text.strip() else "empty review"


def first_sentence(text: str, max_words: int = 30) -> str:
    """The review's first sentence with a word in it ("... Great film." -> "Great film."; sentences end
    at . ! or ? before a space), cut to `max_words` words: a one-line comment, as users send them."""
    sentences = _SENTENCE_END.split(_LINE_BREAK.sub(" ", text).strip())
    return " ".join(next((sentence for sentence in sentences if tokenize(sentence)), text).split()[:max_words])


def terms(tokens: list[str], ngrams: int) -> list[str]:
    """The tokens, each followed (ngrams=2) by the bigram it ends, "previous token" (tokens hold no
    spaces): the recurrent model then also reads word pairs ("not good") as units of their own."""
    if ngrams == 1:
        return tokens
    return tokens[:1] + [
        term for previous, token in itertools.pairwise(tokens) for term in (token, f"{previous} {token}")
    ]


class Vocabulary(BaseModel):
    """Tokens by id (0 = padding, 1 = out of vocabulary) and how sequences are padded; vocab.json is
    checked like params.yaml (Vocabulary.load): a hand-edited file fails in one line naming the key."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    tokens: list[str] = Field(min_length=2, description="padding and OOV first, then the vocabulary")
    max_len: int = Field(gt=0)
    padding: Literal["pre", "post"]
    truncating: Literal["pre", "post"]
    ngrams: int = Field(1, ge=1, le=2)  # 2: bigrams in the vocabulary too (files from before this field read as 1)
    max_features: int | None = Field(None, ge=2)  # pad.max_features (the tokens may be fewer); None: an older file

    def __init__(self, *args, **kwargs):  # positional too, in the fields' order
        super().__init__(**dict(zip(type(self).model_fields, args, strict=False)), **kwargs)

    @classmethod
    def fit(
        cls, texts: Iterable[str], max_features: int, max_len: int, padding: str, truncating: str, ngrams: int = 1
    ) -> Vocabulary:
        """The `max_features - 2` most frequent terms (tokens, and bigrams if ngrams=2); ties go
        to the alphabetically first, so the vocabulary does not depend on row order."""
        counts = Counter(term for text in texts for term in terms(tokenize(text), ngrams))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: max_features - 2]
        tokens = [PAD_TOKEN, OOV_TOKEN] + [term for term, _ in ranked]
        return cls(tokens, max_len, padding, truncating, ngrams, max_features)

    def check_made_with(self, pad, path: Path | str) -> None:
        """Refuses in one line padded data made with other pad params than `pad` (params.yaml's, as
        train is given them): a model built for one vocabulary size, length and padding side fit on
        another's ids trained to 0.50 accuracy with exit 0 (ids past the embedding clamped on JAX)."""
        made = self.model_dump()
        differ = [
            f"pad.{key} {'(not recorded)' if made.get(key) is None else made[key]} (params.yaml: {value})"
            for key, value in pad.model_dump().items()
            if made.get(key) != value
        ]
        if differ:
            raise PipelineError(
                f"{path}: the padded data was made with {', '.join(differ)}: rebuild it with `dvc repro pad`"
            )

    def save(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(self.model_dump(), ensure_ascii=False))

    @classmethod
    def load(cls, path: Path | str) -> Vocabulary:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested 100,000 deep
            raise PipelineError(f"{path}: not a readable vocabulary file: {exc}") from None
        if not isinstance(data, dict):
            raise PipelineError(f"{path}: not a vocabulary file: expected an object, got {type(data).__name__}")
        try:
            checked = cls.model_validate(data)
        except ValidationError as exc:
            raise PipelineError(describe(exc, path)) from None
        if checked.tokens[:2] != [PAD_TOKEN, OOV_TOKEN]:
            raise PipelineError(f"{path}: tokens: expected {PAD_TOKEN!r} and {OOV_TOKEN!r} first (ids 0 and 1)")
        return checked

    def __len__(self) -> int:
        return len(self.tokens)


def texts_to_padded(texts: Iterable[str], vocabulary: Vocabulary) -> np.ndarray:
    """int32 array (n, max_len) of token ids, padded/truncated as the vocabulary says."""
    from keras.utils import pad_sequences  # Keras is imported only where it is used

    texts = list(texts)
    needed, available = len(texts) * vocabulary.max_len * np.dtype("int32").itemsize, machine_memory()
    if needed > available:  # a hand-edited max_len: one line, not numpy's allocation traceback
        raise PipelineError(
            f"vocabulary max_len {vocabulary.max_len:,}: {len(texts):,} reviews padded to it need "
            f"{needed / (1 << 30):,.0f} GiB, more than this machine's {available / (1 << 30):,.0f} GiB"
        )
    ids = {token: index for index, token in enumerate(vocabulary.tokens) if index > OOV_ID}
    # An unknown word is kept as OOV (its position still counts); an unknown bigram is left out.
    sequences = [
        [ids.get(term, OOV_ID) for term in terms(tokenize(text), vocabulary.ngrams) if " " not in term or term in ids]
        for text in texts
    ]
    sides = {"padding": vocabulary.padding, "truncating": vocabulary.truncating}
    return pad_sequences(sequences, maxlen=vocabulary.max_len, dtype="int32", value=PAD_ID, **sides)

"""Review text -> padded token ids: the one preprocessing used by the pad stage and by prediction."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from stages.common import PipelineError, write_text_atomic

PAD_ID, OOV_ID = 0, 1
PAD_TOKEN, OOV_TOKEN = "", "[UNK]"
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)  # the dataset's HTML line breaks
_PUNCTUATION = re.compile(r"[^\w\s]+")


def tokenize(text: str) -> list[str]:
    """Lowercase, drop <br /> tags, strip punctuation, split on whitespace."""
    return _PUNCTUATION.sub("", _LINE_BREAK.sub(" ", text.lower())).split()


@dataclass(frozen=True)
class Vocabulary:
    """Tokens by id (0 = padding, 1 = out of vocabulary) and how sequences are padded."""

    tokens: list[str]
    max_len: int
    padding: str
    truncating: str

    @classmethod
    def fit(cls, texts: Iterable[str], max_features: int, max_len: int, padding: str, truncating: str) -> "Vocabulary":
        """The `max_features - 2` most frequent tokens; ties go to the alphabetically first,
        so the vocabulary does not depend on row order."""
        counts = Counter(token for text in texts for token in tokenize(text))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: max_features - 2]
        return cls([PAD_TOKEN, OOV_TOKEN] + [token for token, _ in ranked], max_len, padding, truncating)

    def save(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(asdict(self), ensure_ascii=False))

    @classmethod
    def load(cls, path: Path | str) -> "Vocabulary":
        try:
            return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise PipelineError(f"{path}: not a readable vocabulary file: {exc}") from None

    def __len__(self) -> int:
        return len(self.tokens)


def texts_to_padded(texts: Iterable[str], vocabulary: Vocabulary) -> np.ndarray:
    """int32 array (n, max_len) of token ids, padded/truncated as the vocabulary says."""
    from keras.utils import pad_sequences  # Keras is imported only where it is used

    ids = {token: index for index, token in enumerate(vocabulary.tokens) if index > OOV_ID}
    sequences = [[ids.get(token, OOV_ID) for token in tokenize(text)] for text in texts]
    return pad_sequences(
        sequences,
        maxlen=vocabulary.max_len,
        dtype="int32",
        padding=vocabulary.padding,
        truncating=vocabulary.truncating,
        value=PAD_ID,
    )

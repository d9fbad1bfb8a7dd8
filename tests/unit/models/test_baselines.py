"""imdb_rnn.models.baselines: the linear yardsticks fail in one line on what params cannot foresee."""

from __future__ import annotations

import pytest

from imdb_rnn.models.baselines import build_classifier
from imdb_rnn.runtime.errors import PipelineError


@pytest.mark.parametrize("kind", ["tfidf_logreg", "nbsvm"])
def test_a_min_df_that_keeps_no_n_gram_is_one_line_naming_the_key(kind):
    """baseline.min_df above every n-gram's count passed the params check, then gave a 39-line
    scikit-learn traceback (issue 30): which counts the reviews hold is known only once they are read."""
    texts, labels = ["a good film", "a bad film", "good acting", "bad acting"], [1, 0, 1, 0]
    assert build_classifier(kind, 1, 2, None, 1.0, 100, 0).fit(texts, labels).predict(texts).tolist() == labels
    with pytest.raises(PipelineError) as refused:
        build_classifier(kind, 1, 3, None, 1.0, 100, 0).fit(texts, labels)
    assert str(refused.value) == "baseline.min_df 3: no n-gram occurs in that many of the 4 training reviews (lower it)"

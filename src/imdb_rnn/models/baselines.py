"""The linear yardsticks, on the recurrent models' own tokens (imdb_rnn.data.text.tokenize): TF-IDF +
logistic regression, and NBSVM (Wang & Manning 2012: binary n-grams scaled by the naive-Bayes
log-count ratio, then logistic regression)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from imdb_rnn.data.text import tokenize
from imdb_rnn.runtime.errors import PipelineError

RUN_NAMES = {"tfidf_logreg": "baseline-tfidf-logreg", "nbsvm": "baseline-nbsvm"}


class NaiveBayesScaler(TransformerMixin, BaseEstimator):
    """Scales each feature by its naive-Bayes log-count ratio r = log((p/|p|) / (q/|q|)), p and q the
    feature's counts (+ alpha) in positive and negative reviews: NBSVM's features (not in scikit-learn)."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, features, labels):
        labels = np.asarray(labels)
        positive = self.alpha + np.asarray(features[labels == 1].sum(axis=0)).ravel()
        negative = self.alpha + np.asarray(features[labels == 0].sum(axis=0)).ravel()
        self.ratio_ = np.log((positive / positive.sum()) / (negative / negative.sum()))
        return self

    def transform(self, features):
        return features.multiply(self.ratio_).tocsr()


class _Baseline(Pipeline):
    """make_pipeline's pipeline, whose fit says in one line that min_df keeps no n-gram (a 39-line
    scikit-learn traceback before): how often n-grams occur is known only once the reviews are read."""

    def fit(self, texts, labels, **params):
        try:
            return super().fit(texts, labels, **params)
        except ValueError as exc:
            if "min_df" not in str(exc):  # "After pruning, no terms remain. Try a lower min_df..."
                raise
            raise PipelineError(
                f"baseline.min_df {self.steps[0][1].min_df:,}: no n-gram occurs in that many of the "
                f"{len(texts):,} training reviews (lower it)"
            ) from None


def build_classifier(
    kind: str, ngram_max: int, min_df: int, max_features: int | None, C: float, max_iter: int, seed: int
):
    """A scikit-learn pipeline from review text to P(positive): `tfidf_logreg` or `nbsvm`."""
    kept = {"ngram_range": (1, ngram_max), "min_df": min_df, "max_features": max_features}
    words = {"tokenizer": tokenize, "token_pattern": None, "lowercase": False, **kept}  # tokenize lowercases
    classifier = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    if kind == "nbsvm":
        return _Baseline(make_pipeline(CountVectorizer(binary=True, **words), NaiveBayesScaler(), classifier).steps)
    # log(1 + tf): a word said ten times is not ten times the evidence
    return _Baseline(make_pipeline(TfidfVectorizer(sublinear_tf=True, **words), classifier).steps)

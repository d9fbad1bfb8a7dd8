"""unlabeled: learn from the 50,000 unlabeled reviews -> data/unlabeled/ (what train can use).

teacher: nbsvm fits NBSVM on the train split (never validation or test) and labels every unlabeled
review with its P(positive), for train to learn from too (train.unlabeled_weight: self-training /
distillation, 70,000 reviews instead of 20,000). teacher: none does nothing, in a second."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from imdb_rnn.runtime.errors import run
from imdb_rnn.runtime.outputs import write_text_atomic
from imdb_rnn.runtime.params import Params, load_params, param_values

PARAMS = ("unlabeled", "mlflow.experiment_name")  # dvc.yaml's params of this stage (a test compares)
LABELED_FILE = "labeled_by_teacher.npz"  # x: the unlabeled reviews' token ids, p: the teacher's P(positive)
RUN_FILE = "run.json"  # the stage's MLflow run, for train's lineage tags


def label_with_teacher(
    params: Params, train_split: Path, unlabeled_reviews: Path, vocabulary_path: Path, out_dir: Path
) -> None:
    from imdb_rnn.data.splits import read_split, save_npz
    from imdb_rnn.data.text import Vocabulary, texts_to_padded
    from imdb_rnn.models.baselines import build_classifier
    from imdb_rnn.tracking import store as tracking

    teacher = params.unlabeled
    train = read_split(train_split.parent, train_split.stem, ["text", "label"])
    unlabeled = read_split(unlabeled_reviews.parent, unlabeled_reviews.stem, ["text", "in_labeled"])
    left_out = int(unlabeled["in_labeled"].sum())
    # Never a validation or test review's text; the first unlabeled.limit reviews if set.
    unlabeled = unlabeled.loc[~unlabeled["in_labeled"], "text"].iloc[: teacher.limit or None]
    vocabulary = Vocabulary.load(vocabulary_path)
    experiment_id = tracking.use_experiment(params.mlflow.experiment_name)  # fail fast, before the fit
    run_name = f"unlabeled-{teacher.teacher}"
    with tracking.stage_run(experiment_id, "unlabeled", run_name, param_values(params, PARAMS)) as active:
        start = time.perf_counter()
        model = build_classifier(
            "nbsvm", teacher.ngram_max, min_df=1, max_features=None, C=teacher.C, max_iter=teacher.max_iter, seed=0
        ).fit(train["text"], train["label"])
        fit_seconds = time.perf_counter() - start
        probability = model.predict_proba(unlabeled)[:, 1]
        confident = float(((probability >= 0.9) | (probability <= 0.1)).mean())
        shares = {"positive_share": float((probability >= 0.5).mean()), "confident_share": confident}
        counts = {"reviews": len(unlabeled), "left_out_as_labeled": left_out}
        tracking.mlflow.log_metrics({"fit_seconds": fit_seconds, **counts, **shares})
        save_npz(out_dir / LABELED_FILE, x=texts_to_padded(unlabeled, vocabulary), p=probability.astype("float32"))
        tracking.write_run_reference(out_dir / RUN_FILE, active)
    print(
        f"unlabeled: {len(unlabeled):,} reviews labeled by NBSVM "
        f"(fit on {len(train):,} train reviews in {fit_seconds:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_split", type=Path, help="data/split/train.parquet (the only labeled text read)")
    parser.add_argument("unlabeled_reviews", type=Path, help="data/raw/unlabeled.parquet")
    parser.add_argument("vocabulary", type=Path, help="data/padded/vocab.json")
    parser.add_argument("out_dir", type=Path, help=f"folder for {LABELED_FILE} and {RUN_FILE}")
    args = parser.parse_args()
    params = load_params(keys=PARAMS)
    if params.unlabeled.teacher == "none":
        # DVC runs every stage; with nothing asked of it this one writes empty outputs, imports nothing heavy.
        from imdb_rnn.data.splits import save_npz

        save_npz(args.out_dir / LABELED_FILE, x=np.zeros((0, 0), "int32"), p=np.zeros(0, "float32"))
        write_text_atomic(args.out_dir / RUN_FILE, json.dumps({"run_id": None}) + "\n")
        print("unlabeled: nothing to learn (unlabeled.teacher: none), empty outputs written")
        return
    label_with_teacher(params, args.train_split, args.unlabeled_reviews, args.vocabulary, args.out_dir)


if __name__ == "__main__":
    run(main)

"""pretrain: the train split's and the unlabeled reviews' text -> data/pretrained/ (what train.init uses).

method: region (imdb_rnn.models.pretraining) reads the train split's and the unlabeled reviews' token ids
(data/unlabeled: those also labeled left out), never a validation or test review; none writes empty outputs."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from imdb_rnn.runtime.errors import run
from imdb_rnn.runtime.outputs import write_text_atomic
from imdb_rnn.runtime.params import Params, load_params, param_values

PARAMS = ("pretrain", "mlflow.experiment_name")  # dvc.yaml's params of this stage (a test compares)


def pretrain_stage(params: Params, train_npz: Path, unlabeled_dir: Path, vocabulary_path: Path, out_dir: Path) -> None:
    from imdb_rnn.data.corpus import chunk_batches, token_ids
    from imdb_rnn.data.splits import save_npz
    from imdb_rnn.data.text import Vocabulary
    from imdb_rnn.models import pretraining
    from imdb_rnn.runtime.devices import use_backend
    from imdb_rnn.tracking import lineage
    from imdb_rnn.tracking import store as tracking

    settings = params.pretrain
    vocabulary = Vocabulary.load(vocabulary_path)
    experiment_id = tracking.use_experiment(params.mlflow.experiment_name)  # fail fast, before the work
    use_backend("jax", settings.seed)
    start = time.perf_counter()
    x = token_ids(train_npz, unlabeled_dir, settings.limit)
    data = chunk_batches(x, vocabulary, settings)
    built = time.perf_counter() - start
    print(f"pretrain: {len(x):,} reviews, {data.terms:,} terms, corpus built in {built:.0f} s", flush=True)
    run_name = f"pretrain-{settings.method}"
    with tracking.stage_run(experiment_id, "pretrain", run_name, param_values(params, PARAMS)) as active:
        tracking.mlflow.set_tags(lineage.data_md5_tags())
        tracking.mlflow.log_metrics({"reviews": len(x), "terms": data.terms, "vocabulary": len(vocabulary)})
        weights, table = pretraining.pretrain(data, len(vocabulary), settings, tracking.mlflow.log_metrics)
        minutes = (time.perf_counter() - start) / 60
        speed = sum(row["tokens"] for row in table) / sum(row["seconds"] for row in table)
        tracking.mlflow.log_metrics({"minutes": minutes, "final_loss": table[-1]["loss"], "tokens_per_second": speed})
        save_npz(out_dir / pretraining.WEIGHTS_FILE, **weights)
        tracking.write_run_reference(out_dir / pretraining.RUN_FILE, active)
    print(f"pretrain: {settings.epochs} epoch(s) in {minutes:.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_npz", type=Path, help="data/padded/train.npz (the only labeled text read)")
    parser.add_argument("unlabeled_dir", type=Path, help="data/unlabeled (the unlabeled reviews' token ids)")
    parser.add_argument("vocabulary", type=Path, help="data/padded/vocab.json")
    parser.add_argument("out_dir", type=Path, help="folder for weights.npz and run.json")
    args = parser.parse_args()
    params = load_params(keys=PARAMS)
    if params.pretrain.method == "none":
        # DVC runs every stage; with nothing asked of it this one writes empty outputs, imports nothing heavy.
        from imdb_rnn.data.splits import save_npz
        from imdb_rnn.models.pretraining import RUN_FILE, WEIGHTS_FILE

        save_npz(args.out_dir / WEIGHTS_FILE)
        write_text_atomic(args.out_dir / RUN_FILE, json.dumps({"run_id": None}) + "\n")
        print("pretrain: nothing to learn (pretrain.method: none), empty outputs written")
        return
    pretrain_stage(params, args.train_npz, args.unlabeled_dir, args.vocabulary, args.out_dir)


if __name__ == "__main__":
    run(main)

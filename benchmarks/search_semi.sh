#!/usr/bin/env bash
# The search behind presets/semi.yaml's training options, through the real pipeline: each
# candidate is one `dvc exp run` on top of the semi preset (the unlabeled stage is cached after the
# first, so each costs one training). Run it in a scratch copy of the project, at low priority:
#
#     imdb-preset presets/semi.yaml && nice -n 10 benchmarks/search_semi.sh > search.tsv
#
# It prints validation accuracy only: the choice is made on it, and test is read once, for the
# chosen preset (docs/results.md). Every candidate sets every varied param.
set -euo pipefail

common=(-S train.adversarial=0.0 -S train.word_dropout=0.0 -S train.units=32 -S train.embedding_dropout=0.5 -S train.epochs=6
        -S train.early_stopping=2)
candidates=(
  "teacher-only"
  "adversarial-0.3     -S train.adversarial=0.3"
  "word-dropout-0.25   -S train.word_dropout=0.25"
  "word-dropout-0.5    -S train.word_dropout=0.5"
  "word-dropout-0.5-u64 -S train.word_dropout=0.5 -S train.units=64"
  "word-dropout-0.5-ed0.25 -S train.word_dropout=0.5 -S train.embedding_dropout=0.25"
)

printf 'name\tval_accuracy\tkept_epoch\tepochs\ttraining_minutes\n'
source "$(dirname "$0")/candidates.sh"
run_candidates '(val["accuracy"], trained["kept_epoch"], trained["epochs"], round(trained["seconds"] / 60, 1))' "${candidates[@]}"

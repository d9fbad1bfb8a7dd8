#!/usr/bin/env bash
# N train workers on this machine (`make workers N=2`): train.distribute: multi_worker with every
# worker on 127.0.0.1. Worker 0, the chief, runs under `dvc repro` (it writes the outputs, dvc.lock
# and the MLflow run); the others run the train stage's own command and write nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2}"
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "error: N: expected a number of workers >= 1 (got '$n')" >&2; exit 1; }

read -r distribute backend < <(python -c '
from imdb_rnn.runtime.params import load_params
train = load_params().train
print(train.distribute, train.backend)')
if [[ "$distribute" != multi_worker ]]; then
  echo "error: params.yaml: train.distribute: expected multi_worker for make workers (got $distribute)" >&2
  exit 1
fi
dvc repro pad  # the data every worker reads, before any worker waits for another

ports=($(python -c "
import socket
sockets = [socket.socket() for _ in range($n)]
for s in sockets: s.bind(('127.0.0.1', 0))
print(' '.join(str(s.getsockname()[1]) for s in sockets))"))
addresses=$(printf '"127.0.0.1:%s",' "${ports[@]}")
train_cmd=$(python -c 'from ruamel.yaml import YAML; print(YAML(typ="safe").load(open("dvc.yaml"))["stages"]["train"]["cmd"])')

cluster_env() {  # what each host of a real cluster sets (docs/scaling.md)
  if [[ "$backend" == tensorflow ]]; then
    echo "TF_CONFIG={\"cluster\": {\"worker\": [${addresses%,}]}, \"task\": {\"type\": \"worker\", \"index\": $1}}"
  else
    echo "KERAS_DISTRIBUTION_JOB_ADDRESSES=$(IFS=,; echo "${ports[*]/#/127.0.0.1:}")"
    echo "KERAS_DISTRIBUTION_NUM_PROCESSES=$n"
    echo "KERAS_DISTRIBUTION_PROCESS_ID=$1"
  fi
}

pids=()
stop_workers() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_workers EXIT
for ((rank = 1; rank < n; rank++)); do
  mapfile -t vars < <(cluster_env "$rank")
  env "${vars[@]}" $train_cmd > >(sed "s/^/[worker $rank] /") 2>&1 &
  pids+=($!)
done
mapfile -t vars < <(cluster_env 0)
status=0
env "${vars[@]}" dvc repro --force --single-item train || status=$?
for pid in "${pids[@]}"; do wait "$pid" || { rc=$?; ((status)) || status=$rc; }; done
trap - EXIT
((status)) && exit "$status"
dvc repro  # the rest of the pipeline (evaluate), in one process

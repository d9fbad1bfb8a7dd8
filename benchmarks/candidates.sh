# Sourced by the search scripts: run_candidates REPORT CANDIDATE... runs each candidate ("name
# -S key=value ...", after the caller's `common` array) as one `dvc exp run`, then prints its row
# with the Python expression REPORT over `val` (metrics/eval.json's validation figures: a search
# chooses on them and never sees test) and `trained` (metrics/train.json).
run_candidates() {
  local report=$1 candidate name overrides
  shift
  for candidate in "$@"; do
    read -r name overrides <<< "$candidate"
    # shellcheck disable=SC2086  # the overrides are separate -S arguments
    dvc exp run -q -n "$name" "${common[@]}" $overrides >&2
    python - "$name" "$report" <<'PY'
import json, sys
val, trained = json.load(open("metrics/eval.json"))["val"], json.load(open("metrics/train.json"))
print(sys.argv[1], *eval(sys.argv[2]), sep="\t")
PY
  done
}

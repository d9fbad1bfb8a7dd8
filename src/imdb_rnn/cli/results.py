"""imdb-results: the README's results table, written from the runs in MLflow stores, not typed by hand.

Each STORE (a project folder's mlflow.db, or a tracking URI) gives its latest evaluated model run and latest
baseline run as rows, sorted by validation accuracy; --readme replaces the table between the README's
markers, else it is printed (docs/tracking.md)."""

from __future__ import annotations

import argparse
import datetime
import re
from pathlib import Path

from mlflow import MlflowClient

from imdb_rnn.runtime.errors import PipelineError, run
from imdb_rnn.tracking import store as tracking
from imdb_rnn.tracking.promotion import PRESETS_DIR, leaves

BEGIN, END = "<!-- results: written by imdb-results -->", "<!-- /results -->"
HEADER = (
    "| run | val | test | test_short | test vs the baseline: difference, McNemar p | minutes | measured |\n"
    "|---|---|---|---|---|---|---|"
)


def preset_of(params: dict[str, str], presets_dir: Path = PRESETS_DIR) -> str | None:
    """The preset whose every value the run has (among the params it logged), the most specific."""
    matches = []
    for path in sorted(presets_dir.glob("*.yaml")):
        values = leaves(path.read_text())
        shared = [key for key in values if key in params]
        if shared and all(params[key] == values[key] for key in shared):
            matches.append((len(shared), path.stem))
    return max(matches)[1] if matches else None


def _accuracy(metrics: dict[str, float], split: str) -> str:
    if f"{split}.accuracy" not in metrics:
        return "not read"
    low, high = metrics.get(f"{split}.accuracy_ci95_low"), metrics.get(f"{split}.accuracy_ci95_high")
    interval = f" [{low:.4f}, {high:.4f}]" if low is not None else ""
    return f"{metrics[f'{split}.accuracy']:.4f}{interval}"


def _versus(metrics: dict[str, float], baseline: str) -> str:
    if "compare.difference" not in metrics:
        return "not measured"
    low, high, p = (metrics[f"compare.{key}"] for key in ("difference_ci95_low", "difference_ci95_high", "mcnemar_p"))
    noise = ": within noise" if low <= 0 <= high else ""
    shown_p = "< 1e-16" if p < 1e-16 else f"{p:.2g}"
    return f"{metrics['compare.difference']:+.4f} [{low:+.4f}, {high:+.4f}] vs {baseline}, p {shown_p}{noise}"


def _row(name: str, metrics: dict[str, float], versus: str, minutes: str, run_) -> tuple[float, str]:
    """(val accuracy, table row); `run_` is the one whose date and commit the row names."""
    date = datetime.datetime.fromtimestamp(run_.info.start_time / 1000, datetime.UTC).strftime("%Y-%m-%d")
    commit = run_.data.tags.get("git_commit", "no commit")[:7]
    dirty = " (uncommitted changes)" if run_.data.tags.get("git_dirty") == "true" else ""
    cells = [name, *(_accuracy(metrics, split) for split in ("val", "test", "test_short")), versus, minutes]
    return metrics["val.accuracy"], "| " + " | ".join([*cells, f"{date}, {commit}{dirty}"]) + " |"


def store_rows(uri: str) -> list[tuple[float, str]]:
    """(val accuracy, table row) for the latest evaluated model run and the latest baseline run in a store."""
    client = MlflowClient(tracking_uri=uri)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    runs = client.search_runs(experiments, "attributes.status = 'FINISHED'", order_by=["attributes.start_time DESC"])
    baseline = next((r for r in runs if r.data.tags.get("role") == "baseline"), None)
    model = next((r for r in runs if "val.accuracy" in r.data.metrics and "role" not in r.data.tags), None)
    if model is None:
        raise PipelineError(f"{tracking.redact(uri)}: no evaluated model run")
    training = client.get_run(model.data.tags.get("training_run_id", model.info.run_id))
    preset = preset_of(training.data.params)
    name = f"`{preset}` preset ({training.info.run_name})" if preset else training.info.run_name
    seconds = sum(m.value for m in client.get_metric_history(training.info.run_id, "epoch_seconds"))
    versus = _versus(model.data.metrics, baseline.info.run_name if baseline else "no baseline")
    rows = [_row(name, model.data.metrics, versus, f"train {seconds / 60:.1f}", training)]
    if baseline:
        minutes = f"fit {baseline.data.metrics.get('fit_seconds', 0) / 60:.1f}"
        rows.append(_row(baseline.info.run_name, baseline.data.metrics, "—", minutes, baseline))
    return rows


def store_uri(store: str) -> str:
    if "://" in store:
        return store
    if not (Path(store) / tracking.STORE_FILE).is_file():  # MLflow would create an empty store there
        raise PipelineError(f"{store}: no {tracking.STORE_FILE} in this folder (a project folder or a tracking URI)")
    return f"sqlite:///{Path(store).resolve() / tracking.STORE_FILE}"


def table(stores: list[str]) -> str:
    uris = [store_uri(store) for store in stores]
    rows = sorted((row for uri in uris for row in store_rows(uri)), key=lambda row: -row[0])
    return "\n".join([HEADER, *(row for _, row in rows)])


def write_readme(readme: Path, text: str) -> None:
    content = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(content):
        raise PipelineError(f"{readme}: no {BEGIN} ... {END} markers to write the table between")
    readme.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", content), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+", help="project folders (their mlflow.db) or tracking URIs")
    parser.add_argument("--readme", type=Path, help="write the table between the markers of this file")
    args = parser.parse_args()
    text = table(args.stores)
    if args.readme:
        write_readme(args.readme, text)
    else:
        print(text)


def cli() -> None:  # the console script
    run(main)


if __name__ == "__main__":
    cli()

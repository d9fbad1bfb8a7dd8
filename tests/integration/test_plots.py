"""The pictures a person sees, in headless Chromium with the network shut: the `dvc plots` page (show
and diff) draws exactly the four plots of dvc.yaml, each with its data, from the Vega copy the
project ships; the MLflow run page shows the run's three images; the training curves mark the kept epoch."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from dvc_render.html import PAGE_HTML

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, Server, sh

pytestmark = pytest.mark.slow  # run first by make test (tests/conftest.py)

# The top-level training curves, then each stage's plot file (titled in dvc.yaml), each drawn once.
PLOTS = ["Training curves", "metrics/history.csv", "metrics/confusion.csv", "metrics/roc.csv"]
IMAGES = ["training_curves", "confusion_matrix", "roc_curve"]
# Runs before the page's scripts: keeps the view of each vegaEmbed() call (DVC's page keeps none),
# so the test can read what Vega drew, whichever renderer it used.
KEEP_VIEWS = """
window.__views = []; window.__embedErrors = [];
let embed;
Object.defineProperty(window, 'vegaEmbed', {
  configurable: true,
  get() { return embed; },
  set(real) {
    embed = Object.assign((el, spec, opt) => {
      const result = real(el, spec, opt);
      result.then(r => window.__views.push(r.view), e => window.__embedErrors.push(String(e)));
      return result;
    }, real);
  },
});
"""
# Per chart: its div's id, and the items of its data marks (not axes, legends or frames) with the
# revisions their data came from.
DRAWN = """() => window.__views.map(view => {
  const items = [];
  const walk = mark => {
    if (mark.role === 'mark' && mark.marktype !== 'group') items.push(...mark.items);
    for (const item of mark.items || []) for (const child of item.items || []) walk(child);
  };
  walk(view.scenegraph().root);
  const revs = new Set(items.map(item => item.datum && item.datum.rev).filter(Boolean));
  return {id: view.container().closest('body > div[id]').id, marks: items.length, revs: [...revs].sort(),
          drawn: !!view.container().querySelector('canvas.marks, svg.marks')};
})"""


def view_offline(page_path: Path, screenshot: Path | None = None) -> tuple[list[dict], list[str]]:
    """Open a local page with every non-file request refused; (what each chart drew, the requests that
    failed or left the machine)."""
    from playwright.sync_api import sync_playwright

    failed: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith("file:")
                    else (failed.append(route.request.url), route.abort())
                ),
            )
            page = context.new_page()
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.on("pageerror", lambda error: failed.append(f"page error: {error}"))
            page.add_init_script(KEEP_VIEWS)
            page.goto(page_path.as_uri())
            # Every embed settled (or none could start: the scripts never loaded).
            page.wait_for_function(
                "() => typeof vegaEmbed === 'undefined' || "
                "window.__views.length + window.__embedErrors.length === "
                "document.querySelectorAll('body > div[id]').length",
                timeout=60_000,
            )
            page.wait_for_timeout(500)  # let Vega finish its first render
            charts = page.evaluate(DRAWN)
            failed += page.evaluate("() => window.__embedErrors")
            if screenshot:
                page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()
    return charts, failed


def chart_ids(names: list[str]) -> list[str]:
    """The div ids DVC gives the plots (non-alphanumerics to underscores)."""
    return ["".join(c if c.isalnum() else "_" for c in name) for name in names]


def test_plots_page_draws_the_four_plots_offline(reproduced, tmp_path):
    # Exactly dvc.yaml's plots: each file drawn as its stage says, not again with the default template.
    shown = json.loads(sh(["dvc", "plots", "show", "--json"], reproduced).stdout)["data"]
    assert list(shown) == PLOTS
    assert all(len(definition["content"]["data"]["values"]) > 0 for (definition,) in shown.values())

    out = tmp_path / "show"
    sh(["dvc", "plots", "show", "-o", str(out)], reproduced)  # the template from .dvc/config
    page = out / "index.html"
    assert "cdn.jsdelivr" not in page.read_text()
    charts, failed = view_offline(page, tmp_path / "show.png")
    assert failed == []
    assert [chart["id"] for chart in charts] == chart_ids(PLOTS)
    assert all(chart["drawn"] and chart["marks"] > 0 and chart["revs"] == ["workspace"] for chart in charts), charts

    # The same page from DVC's own template, which loads Vega from a CDN: offline it draws nothing.
    default = tmp_path / "dvc_default.html"
    default.write_text(PAGE_HTML)
    sh(["dvc", "plots", "show", "-o", str(tmp_path / "cdn"), "--html-template", str(default)], reproduced)
    charts, failed = view_offline(tmp_path / "cdn" / "index.html")
    assert charts == [] and any("cdn.jsdelivr.net" in url for url in failed)


def test_plots_diff_overlays_two_revisions_in_the_four_plots_also_in_a_fresh_clone(clone, tmp_path):
    project = clone()
    sh(["git", "add", "-A"], project)
    sh(["git", "commit", "-qm", "tiny run"], project)
    # Two epochs with early stopping: a second revision whose training curves have a kept epoch.
    sh(
        [
            "dvc",
            "exp",
            "run",
            "-n",
            "longer",
            "-S",
            "train.epochs=2",
            "-S",
            "train.early_stopping=1",
            "-S",
            "train.units=12",
        ],
        project,
    )
    history = pd.read_csv(project / "metrics/history.csv")
    summary = json.loads((project / "metrics/train.json").read_text())
    assert summary["kept_epoch"] == int(history.loc[history["val_loss"].idxmin(), "epoch"])

    diffed = json.loads(sh(["dvc", "plots", "diff", "main", "longer", "--json"], project).stdout)["data"]
    assert list(diffed) == PLOTS
    out = tmp_path / "diff"
    sh(["dvc", "plots", "diff", "main", "longer", "-o", str(out)], project)
    charts, failed = view_offline(out / "index.html", tmp_path / "diff.png")
    assert failed == []
    assert [chart["id"] for chart in charts] == chart_ids(PLOTS)
    assert all(chart["drawn"] and chart["marks"] > 0 and chart["revs"] == ["longer", "main"] for chart in charts), (
        charts
    )

    # dvc.lock and the metrics and plot files are in git (cache: false): a clone without the DVC cache
    # or any output compares with main (it failed: "failed to load ... 'HEAD'").
    sh(["git", "add", "-A"], project)  # the experiment, applied to the workspace, kept
    sh(["git", "commit", "-qm", "longer"], project)
    fresh = tmp_path / "fresh"
    sh(["git", "clone", "-q", str(project), str(fresh)], tmp_path)
    metrics = json.loads(sh(["dvc", "metrics", "diff", "HEAD~1", "--json"], fresh).stdout)
    assert metrics["metrics/train.json"]["epochs"] == {"old": 1, "new": 2, "diff": 1}, metrics
    diffed = json.loads(sh(["dvc", "plots", "diff", "HEAD~1", "--json"], fresh).stdout)["data"]
    assert list(diffed) == PLOTS
    for (definition,) in diffed.values():
        assert {value["rev"] for value in definition["content"]["data"]["values"]} == {"HEAD~1", "workspace"}


def test_mlflow_run_page_shows_the_three_images(reproduced, tmp_path):
    from playwright.sync_api import sync_playwright

    run = json.loads((reproduced / "models/mlflow_run.json").read_text())
    run_id, experiment_id = run["run_id"], run["experiment_id"]
    # As `make ui` runs it.
    ui = Server(
        ["mlflow", "ui", "--backend-store-uri", f"sqlite:///{reproduced / 'mlflow.db'}", "--workers", "1"],
        cwd=reproduced,
        log=tmp_path / "ui.log",
        ready_path="/health",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )
    failed: list[str] = []
    sizes = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                context.route(
                    "**/*",
                    lambda route: (
                        route.continue_()
                        if route.request.url.startswith((ui.url, "blob:", "data:"))
                        else (failed.append(route.request.url), route.abort())
                    ),
                )
                for name in IMAGES:
                    path = f"plots/{name}.png"
                    page = context.new_page()  # a fresh load: the app ignores a new hash on an open page
                    page.goto(f"{ui.url}/#/experiments/{experiment_id}/runs/{run_id}/artifacts/{path}")
                    image = page.locator(f'img[alt="{path}"]')
                    image.wait_for(timeout=60_000)
                    page.wait_for_function(
                        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=30_000
                    )
                    sizes[name] = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
                    page.screenshot(path=tmp_path / f"{name}.png")
                    page.close()
            finally:
                browser.close()
    finally:
        ui.stop()
    assert failed == []
    assert sizes["training_curves"] == [1000, 400]  # figsize 10 x 4 inches at 100 dpi
    assert all(width > 100 and height > 100 for width, height in sizes.values()), sizes


def kept_lines(figure) -> list[tuple[float, str]]:
    return [
        (line.get_xdata()[0], line.get_label())
        for axes in figure.axes
        for line in axes.get_lines()
        if line.get_label().startswith("kept")
    ]


def test_training_curves_mark_the_epoch_early_stopping_kept():
    from imdb_rnn.tracking import plots

    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4],
            "loss": [0.6, 0.4, 0.3, 0.2],
            "accuracy": [0.7, 0.8, 0.85, 0.9],
            "val_loss": [0.5, 0.4, 0.45, 0.5],
            "val_accuracy": [0.75, 0.8, 0.79, 0.78],
        }
    )
    figure = plots.training_curves(history, kept_epoch=2)
    try:
        # On both panels, in their legends.
        assert kept_lines(figure) == [(2, "kept: epoch 2 (lowest val_loss)")] * 2
        assert all(
            "kept: epoch 2 (lowest val_loss)" in [t.get_text() for t in axes.get_legend().get_texts()]
            for axes in figure.axes
        )
    finally:
        plots.plt.close(figure)
    # Nothing to mark when the model holds the last epoch's weights.
    for kept in (4, None):
        figure = plots.training_curves(history, kept_epoch=kept)
        try:
            assert kept_lines(figure) == []
        finally:
            plots.plt.close(figure)


@pytest.mark.parametrize("name", ["vega", "vega-lite", "vega-embed"])
def test_shipped_page_holds_each_library_once_with_its_licence(name):
    page = (ROOT / "vendor/vega/page.html").read_text()
    # Inline once; no <script src>, and no placeholder through which DVC would add its CDN tags.
    assert page.count(f"<!-- {name} ") == 1 and "{plot_divs}" in page
    assert "<script src" not in page and "{scripts}" not in page
    licence = (ROOT / "vendor/vega/LICENSE").read_text()
    assert name in licence and "BSD-3-Clause" in licence

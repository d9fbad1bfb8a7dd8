"""The docs hold together: every relative link and #anchor in README.md, docs/*.md and benchmarks/README.md
resolves, and the README stays a few screens long. External (http, https, mailto) links are not checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import ROOT

README_MAX_LINES = 150
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`+[^`]*`+")
# [text](target) and ![alt](target); the target may carry a title: (path "title").
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = ("http://", "https://", "mailto:")


def prose_lines(path: Path) -> list[str]:
    """The lines outside fenced code blocks (a link or heading in code is not one)."""
    lines, in_fence = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without markup, lowercased, every character but
    letters, digits, spaces, - and _ dropped, spaces turned into -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays, its target goes
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's slug in the file, repeats numbered -1, -2, ... as GitHub does."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    return [target for line in prose_lines(path) for target in LINK.findall(INLINE_CODE.sub("", line))]


def test_the_slugs_are_githubs():
    assert slug("GPUs: `make setup ACCEL=cuda`") == "gpus-make-setup-accelcuda"
    assert slug("More processes and hosts: `train.distribute: multi_worker`") == (
        "more-processes-and-hosts-traindistribute-multi_worker"
    )
    assert slug("Predict and serve") == "predict-and-serve"
    assert slug("The [registry](x.md) — and *more*") == "the-registry--and-more"


def test_the_docs_pages_exist():
    assert len(DOCS) > 1 and all(path.is_file() for path in DOCS)


@pytest.mark.parametrize("path", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path):
    broken = []
    for target in links(path):
        if target.startswith(EXTERNAL):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists() or not linked.is_relative_to(ROOT):
            broken.append(f"{target}: no such file in the project")
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert broken == []


def test_the_readme_fits_a_few_screens():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md: {len(lines)} lines, at most {README_MAX_LINES}"


# Module paths and dotted names the text of the project gives (docs, docstrings, comments, presets).
NAMED_PATH = re.compile(
    r"(?<![\w/.-])((?:src/imdb_rnn|stages|tests|benchmarks|docs|presets|scripts)/[\w/.-]*\w\.(?:py|md|yaml|sh))"
)
NAMED_MODULE = re.compile(r"(?<![\w./-])((?:imdb_rnn|stages)(?:\.\w+)+)(?!\w*\()")  # a call is code: stages.items()
TEXT_FILES = [*DOCS, *(ROOT / "presets").glob("*.yaml"), ROOT / "params.yaml", ROOT / "dvc.yaml", ROOT / "Makefile"]
CODE_FILES = [path for folder in ("src", "stages", "tests", "benchmarks") for path in (ROOT / folder).rglob("*.py")]


def names_a_module(dotted: str) -> bool:
    """A dotted name (imdb_rnn.<package>.<module>, stages.<module>) is a module or package of the
    project, or a name in a module."""
    path = (ROOT / "src" if dotted.startswith("imdb_rnn") else ROOT).joinpath(*dotted.split("."))
    return (
        path.with_suffix(".py").is_file()
        or (path / "__init__.py").is_file()
        or path.parent.with_suffix(".py").is_file()
    )


def test_every_module_the_text_names_exists():
    """No docstring, comment or page names a module that moved or never was."""
    wrong = []
    for path in TEXT_FILES + CODE_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if "removed" in line:  # history: a benchmark since removed
                continue
            where = f"{path.relative_to(ROOT)}:{number}"
            wrong += [f"{where}: {name}" for name in NAMED_PATH.findall(line) if not (ROOT / name).exists()]
            wrong += [f"{where}: {name}" for name in NAMED_MODULE.findall(line) if not names_a_module(name)]
    assert wrong == []

"""Rebuild page.html, the HTML template `dvc plots` fills (see .dvc/config), from the npm packages
vega, vega-lite and vega-embed: their minified builds inline, so the page draws without a network.

    python vendor/vega/build.py     # needs npm and the npm registry; checks each tarball's sha512

To move to newer versions, edit PACKAGES (version and the `integrity` that `npm pack --json` prints).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

from imdb_rnn.runtime.outputs import write_text_atomic

HERE = Path(__file__).resolve().parent

# The major versions of DVC's own page (dvc-render: vega 5, vega-lite 5, vega-embed 6), newest of each.
PACKAGES = [
    (
        "vega",
        "5.33.1",
        "build/vega.min.js",
        "sha512-1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw==",
    ),
    (
        "vega-lite",
        "5.23.0",
        "build/vega-lite.min.js",
        "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA==",
    ),
    (
        "vega-embed",
        "6.29.0",
        "build/vega-embed.min.js",
        "sha512-PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q==",
    ),
]

# DVC's page with one change: no scripts placeholder, so DVC's CDN <script> tags never reach the page;
# the libraries are inline instead. plot_divs and refresh_tag are DVC's placeholders.
PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot</title>
    <!-- Built by vendor/vega/build.py: LIBRARIES, BSD-3-Clause, see vendor/vega/LICENSE. -->
SCRIPTS
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""
# Strings the inlined code must not hold: one would end the <script> early, the others are
# placeholders DVC would replace inside the code.
FORBIDDEN = ("</script", "{plot_divs}", "{refresh_tag}", "{scripts}")


def fetch(name: str, version: str, member: str, integrity: str, workdir: Path) -> str:
    result = subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", str(workdir)],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    if result.returncode != 0:
        raise SystemExit(f"error: npm pack {name}@{version}: {result.stderr.strip().splitlines()[-1:]}")
    tarball = workdir / json.loads(result.stdout)[0]["filename"]
    algorithm, expected = integrity.split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        raise SystemExit(f"error: {tarball.name}: {algorithm} {actual} is not the pinned {expected}")
    with tarfile.open(tarball) as tar:
        code = tar.extractfile(f"package/{member}").read().decode("utf-8")
    # The source map is not shipped; the comment would only send devtools looking for it.
    code = "\n".join(line for line in code.splitlines() if not line.startswith("//# sourceMappingURL=")).strip()
    for text in FORBIDDEN:
        if text in code.lower():
            raise SystemExit(f"error: {name}@{version} {member}: holds {text!r}, cannot be inlined")
    return f"    <!-- {name} {version} ({member}) -->\n    <script>{code}</script>"


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        scripts = [fetch(*package, Path(workdir)) for package in PACKAGES]
    libraries = ", ".join(f"{name} {version}" for name, version, _, _ in PACKAGES)
    page = PAGE.replace("LIBRARIES", libraries).replace("SCRIPTS", "\n".join(scripts))
    write_text_atomic(HERE / "page.html", page)
    print(f"{HERE / 'page.html'}: {len(page.encode()):,} bytes ({libraries})")


if __name__ == "__main__":
    main()

"""The HTML report drawn in headless Chromium: what Plotly drew, read back from ``<pre id="connlab-rendered">``
(used by tests/test_htmlreport.py and by the autoscale run's check in tests/helpers_e2e.py); and a run folder's
results.json rewritten, and a page's figures read without a browser, for tests/test_htmlreport.py."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
#: the contract results.json follows, beside the repo (as tests/helpers_e2e.py finds it)
SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "contract" / "results.schema.json"


def edit_results(folder: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    """Rewrite ``folder/results.json`` with ``change`` applied to its document (in place); its path."""
    path = folder / "results.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))
    return path


def page_figures(page: Path) -> list[dict[str, Any]]:
    """The figures a page hands Plotly (``id`` and ``figure``), read from its JSON, no browser."""
    found = re.search(r'id="connlab-figures">(.*?)</script>', page.read_text(), re.S)
    assert found, "no connlab-figures in the page"
    figures: list[dict[str, Any]] = json.loads(found[1])  # "<\\/" is JSON's escape of "</"
    return figures


def _rendered(page: Path, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """Open ``page`` in headless Chromium; the body's data-rendered and the figures Plotly drew."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: install Debian's chromium (apt-get install chromium) to draw the report")
    profile = tmp_path / f"chromium-{page.stem}"
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    shutil.rmtree(profile, ignore_errors=True)
    body = re.search(r"<body([^>]*)>", dom)
    pre = re.search(r'<pre id="connlab-rendered"[^>]*>(.*?)</pre>', dom, re.S)
    assert body and pre, dom[:500]
    state = re.search(r'data-rendered="(\w+)"', body[1])
    return (state[1] if state else "absent"), json.loads(html.unescape(pre[1]) or "{}")


def connection_figures(summary: dict[str, Any]) -> list[str]:
    """The ids of the connections figures Plotly drew, in the page's order."""
    return [f["id"] for f in summary["figures"] if f["id"].startswith("connections-")]


def _traces(summary: dict[str, Any], figure: str) -> dict[str, dict[str, Any]]:
    found = next(f for f in summary["figures"] if f["id"] == figure)
    assert found["drawn"] > 0
    return {t["name"]: {**t, "x_range": found["x_range"], "y_range": found["y_range"]} for t in found["traces"]}

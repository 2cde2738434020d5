"""Helpers of connlab check's tests: the fixture apps, ``python -m harness check`` as a user runs it (and its
``--run`` judged against the real run), and the Rails reader's figures read back."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

from harness.check.model import AppConfig, ProcessType
from harness.check.rails import read_rails
from tests.helpers import ROOT, env_with_marker, processes_under
from tests.helpers_e2e import only_results, validate

APPS = ROOT / "tests" / "fixtures" / "apps"


def check(*args: str, marker: str = "") -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness", "check", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env=env_with_marker(marker) if marker else None)
    return done, time.monotonic() - began


def _run_and_judge(app: str, args: list[str], tmp_path: Path) -> dict[str, object]:
    """``connlab check APP ARGS --run``: starts the servers, apps and Locust (an e2e test's helper)."""
    marker = uuid.uuid4().hex
    done, _ = check(str(APPS / app), *args, "--run", "--out", str(tmp_path), marker=marker)
    assert done.returncode in (0, 6, 7), done.stderr[-3000:] + done.stdout[-2000:]
    document = only_results(tmp_path)
    validate(document)
    assert document["verdict"]["prediction_held"], document["verdict"]  # type: ignore[index]
    assert processes_under(marker) == []
    return document


def read(name: str | Path, env: dict[str, str] | None = None, flags: dict[str, int] | None = None) -> AppConfig:
    app = name if isinstance(name, Path) else APPS / name
    return read_rails(app, env=env or {}, flags=flags or {})


def of(config: AppConfig, name: str) -> ProcessType:
    return next(t for t in config.process_types if t.name == name)


def pools(process: ProcessType) -> list[tuple[str, int, str, str]]:
    return [(p.database, p.size.value, p.size.source, p.server) for p in process.pools]


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root

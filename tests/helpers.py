"""Test helpers: the repository's root, processes alive, and a subprocess that is waited on for a line of output.

The helpers of the end-to-end runs are in tests/helpers_e2e.py, connlab check's in tests/helpers_check.py and the
report's headless Chromium in tests/helpers_report.py."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

#: The repository's root (the folder with harness/ and tests/).
ROOT = Path(__file__).resolve().parents[1]

#: The smallest valid scenario, for tests that mutate one: no servers are started by reading it.
SMALL_SCENARIO = """\
app: python
postgres: {max_connections: 20}
redis: {maxclients: 20}
tiers:
  web: {dynos: 1, processes: 1, threads: 2, pool: 2}
traffic:
  query_ms: 100
  stages: [{duration_s: 2, users: 2}]
"""
SERVER_PATTERN = ("postgres", "valkey-server", "gunicorn", "puma", "sidekiq", "dramatiq", "locust", "rq", "ruby")
_BEFORE: dict[str, set[int]] = {}


def _pids() -> set[int]:
    return {int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()}


def processes_under(marker: str) -> list[str]:
    """Live processes a test started: ``marker`` in their environment or command line, or, since
    ``env_with_marker(marker)`` was called, any new process that looks like a server of ours (servers that
    retitle themselves, as Valkey, Postgres backends and Puma do, can overwrite their environment)."""
    before = _BEFORE.get(marker)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.split(") ", 1)[-1].startswith("Z"):
            continue  # a zombie is already gone, waiting only for its parent to read its status
        new_server = before is not None and int(entry.name) not in before and any(
            pattern in cmdline for pattern in SERVER_PATTERN)
        if marker in cmdline or marker in environ or new_server:
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def wait_for_line(proc: subprocess.Popen[str], log: Path, needle: str, *, timeout_s: float) -> None:
    """Wait until ``needle`` appears in ``log``; on timeout, fail showing its last lines."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and needle in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    last = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
    raise AssertionError(f"{needle!r} not seen within {timeout_s} s (exit {proc.poll()}); last lines:\n"
                         + "\n".join(last))


def env_with_marker(marker: str) -> dict[str, str]:
    """The environment for a run whose processes ``processes_under(marker)`` will look for."""
    _BEFORE[marker] = _pids()
    return {**os.environ, "LABTEST_MARKER": marker}

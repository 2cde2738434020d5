"""Test helpers: the repository's root, processes alive, and a subprocess that is waited on for a line of output.

The helpers of the end-to-end runs are in tests/helpers_e2e.py, connlab check's in tests/helpers_check.py and the
report's headless Chromium in tests/helpers_report.py."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
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
#: How often a test's watcher reads its runs' registry (a group that lives a shorter time may go unseen; it is
#: not one a run could leave behind, since the run stops only what it saw start).
WATCH_INTERVAL_S = 0.1
WATCH_LIMIT_S = 900.0


class _RunWatch:
    """The process groups the runs of one test record, read from a run registry folder of that test's own.

    ``env_with_marker`` points ``CONNLAB_RUNS_DIR`` at the folder; every process group a run starts (a server, a
    dyno, Locust, the reaper) is in its record while it runs (``harness.ground.registry``), and this thread keeps
    each one it sees, so the test still knows them after the run has ended and removed its record."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.groups: dict[int, int] = {}  # pgid -> its leader's start time (clock ticks since boot)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"watch-{directory.name}", daemon=True)
        self._thread.start()

    def read(self) -> None:
        for path in self.directory.glob("run-*"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # being replaced, or already gone
            with self._lock:
                for group in data.get("groups", []):
                    self.groups.setdefault(int(group["pgid"]), int(group["start"]))

    def _watch(self) -> None:
        began = time.monotonic()
        while not self._stop.wait(WATCH_INTERVAL_S) and time.monotonic() - began < WATCH_LIMIT_S:
            self.read()

    def known(self) -> dict[int, int]:
        self.read()
        with self._lock:
            return dict(self.groups)


_WATCHES: dict[str, _RunWatch] = {}


def _stat(entry: Path) -> tuple[str, int, int, int]:
    """State, process group, session and start time (``/proc/<pid>/stat`` fields 3, 5, 6, 22)."""
    fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
    return fields[0], int(fields[2]), int(fields[3]), int(fields[19])


def _ours(pgid: int, sid: int, start: int, groups: dict[int, int], starts: dict[int, int]) -> bool:
    """In a group (or a session) a run recorded, and not a later process that got a recycled pid: the group's
    leader is the recorded one, or is gone and this process started after it."""
    for leader in (pgid, sid):
        recorded = groups.get(leader)
        if recorded is not None and starts.get(leader, recorded) == recorded and start >= recorded:
            return True
    return False


def processes_under(marker: str) -> list[str]:
    """Live processes a test's runs started: ``marker`` in their environment or command line (the harness and
    what does not retitle itself), or in a process group or session the runs recorded in their registry
    (servers that retitle themselves, as Valkey, Postgres backends and Puma do, overwrite their environment).
    Only the test's own runs count: another test's, or another ``connlab`` on the machine, never does."""
    watch = _WATCHES.get(marker)
    groups = watch.known() if watch is not None else {}
    seen: list[tuple[str, int, int, int, str, str]] = []
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, pgid, sid, start = _stat(entry)
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        starts[int(entry.name)] = start
        seen.append((state, pgid, sid, start, cmdline, environ + f"\0pid={entry.name}"))
    found = []
    for state, pgid, sid, start, cmdline, environ in seen:
        if state == "Z":
            continue  # a zombie is already gone, waiting only for its parent to read its status
        if marker in cmdline or marker in environ or _ours(pgid, sid, start, groups, starts):
            found.append(f"{environ.rsplit('pid=', 1)[1]}: {cmdline.strip()}")
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
    """The environment for a run whose processes ``processes_under(marker)`` will look for: the marker, and a run
    registry folder of the test's own, watched from now on."""
    directory = Path(tempfile.mkdtemp(prefix="connlab-test-runs-"))
    _WATCHES[marker] = _RunWatch(directory)
    return {**os.environ, "LABTEST_MARKER": marker, "CONNLAB_RUNS_DIR": str(directory)}

"""A server process the harness owns: its own process group, a log file, readiness, teardown.

``Service`` is a context manager (start, wait until ready, stop), in the manner
of testcontainers/mirakuru. Readiness is a named strategy with a timeout; a
timeout names the service, the time waited and its last log lines. Stopping
sends SIGTERM to the whole process group, then SIGKILL after ``STOP_GRACE_S``.

Every group started is also recorded in ``LIVE_GROUPS`` so that ``sweep()``
can end whatever is left, whatever path the run took out, and, during a
run (``harness.ground.lifetime``), in the run registry on disk (``registry``),
so that the run's reaper, or the next run, ends them if the harness itself is
killed. The ground floor: the stack's servers and apps and the load's Locust are
started with it.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harness.errors import ComponentDied, StartTimeout
from harness.ground import registry
from harness.privilege import Account, drop_to

STOP_GRACE_S = 5.0
POLL_INTERVAL_S = 0.05

LIVE_GROUPS: dict[int, str] = {}
_LIVE_LOCK = threading.Lock()


_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, below the ephemeral range.

    A port from the ephemeral range (what binding port 0 gives) can be taken by
    an outgoing connection before the server binds it, or even by a readiness
    probe connecting to itself; ports below the range are only ever bound on
    purpose. Each port is handed out once per harness process.
    """
    low = min(_ephemeral_low(), 32768)
    for _ in range(200):
        port = random.randrange(10000, low)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # a crowded machine: let the kernel pick
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 8) -> list[str]:
    """The last lines of a log file (empty when it does not exist)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            return f.read().decode(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def _group_alive(pgid: int) -> bool:
    # The leader may be our own exited child: reap it, or it stays a zombie member.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pgid, os.WNOHANG)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int, *, grace_s: float = STOP_GRACE_S,
               stop_signal: signal.Signals = signal.SIGTERM) -> None:
    """Send ``stop_signal`` to the process group, wait up to ``grace_s``, then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, stop_signal)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _group_alive(pgid):
        time.sleep(POLL_INTERVAL_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def register_group(pgid: int, name: str, stop_signal: signal.Signals = signal.SIGTERM) -> None:
    """Remember a process group the harness started, for ``sweep()`` and in the run's record on disk."""
    with _LIVE_LOCK:
        LIVE_GROUPS[pgid] = name
    registry.note_group(pgid, name, stop_signal)


def forget_group(pgid: int) -> None:
    with _LIVE_LOCK:
        LIVE_GROUPS.pop(pgid, None)
    registry.drop_group(pgid)


def sweep() -> list[str]:
    """End every process group the harness started and has not stopped, then the run's record and
    reaper (nothing is left for them); return the groups' names."""
    with _LIVE_LOCK:
        groups = dict(LIVE_GROUPS)
    for pgid in groups:
        kill_group(pgid, grace_s=1.0)
    for pgid in groups:
        forget_group(pgid)
    registry.end_run()
    return list(groups.values())


@dataclass(frozen=True, kw_only=True)
class Readiness:
    """A named readiness check: ``check()`` is True once the service answers."""

    name: str
    check: Callable[[], bool]
    timeout_s: float


def http_ready(url: str, *, timeout_s: float) -> Readiness:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - loopback only
                return int(response.status) == 200
        except (OSError, urllib.error.URLError):
            return False

    return Readiness(name=f"GET {url}", check=check, timeout_s=timeout_s)


def log_line_ready(path: Path, needle: str, *, timeout_s: float) -> Readiness:
    def check() -> bool:
        try:
            return needle in path.read_text(errors="replace")
        except OSError:
            return False

    return Readiness(name=f"log line {needle!r}", check=check, timeout_s=timeout_s)


class Service:
    """One server process (and its children) in a process group of its own."""

    def __init__(self, *, name: str, argv: Sequence[str], log_path: Path, readiness: Readiness | None,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 account: Account | None = None, stop_signal: signal.Signals = signal.SIGTERM) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.readiness = readiness
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.account = account  # run as this unprivileged account (harness.privilege), else as we are
        self.stop_signal = stop_signal
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def start(self) -> None:
        """Start the process and wait until it is ready; stop it again if it never is."""
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=self.cwd, start_new_session=True, **drop_to(self.account),
            )
        register_group(self.proc.pid, self.name, self.stop_signal)
        try:
            self._wait_ready(began)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, began: float) -> None:
        if self.readiness is None:
            return
        assert self.proc is not None
        deadline = began + self.readiness.timeout_s
        while not self.readiness.check():
            if self.proc.poll() is not None:
                raise ComponentDied(self.name, self.proc.returncode, tail(self.log_path))
            if time.monotonic() > deadline:
                raise StartTimeout(self.name, time.monotonic() - began, self.readiness.name,
                                   tail(self.log_path))
            time.sleep(POLL_INTERVAL_S)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        """Raise ``ComponentDied`` if the process exited and nobody asked it to."""
        if self.proc is not None and not self.stopping and self.proc.poll() is not None:
            raise ComponentDied(self.name, self.proc.returncode, tail(self.log_path))

    def stop(self, *, grace_s: float = STOP_GRACE_S) -> None:
        """End the whole process group (SIGTERM, then SIGKILL after ``grace_s``)."""
        if self.proc is None:
            return
        self.stopping = True
        kill_group(self.proc.pid, grace_s=grace_s, stop_signal=self.stop_signal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace_s)
        forget_group(self.proc.pid)

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

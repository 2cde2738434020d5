"""Collector: what the servers saw, by two methods each.

Postgres
  * exact: ``replay_postgres_log`` replays ``connection authorized`` /
    ``disconnection`` / ``FATAL`` lines (log_connections, log_disconnections) in
    time order and keeps the largest number of app connections open at one
    instant, in total and per application_name; refusals for a full server are
    counted from their FATAL lines.
  * sampled: ``PostgresSampler`` counts ``pg_stat_activity`` rows per
    application_name every ``SAMPLE_INTERVAL_S`` over the harness's admin connection.

Redis
  * exact: ``harness.redis_log.replay_redis_log`` replays Valkey's verbose log
    (every accepted and closed connection, the harness's kills and its final
    CLIENT LIST marked in the log), checked against ``INFO stats``
    ``rejected_connections``;
  * sampled: ``RedisSampler`` counts ``CLIENT LIST`` entries per client name.

The harness's own connections are named ``connlab-*`` and never counted
(``harness.ground.marks``). The collectors import no backend: a sampler takes the
stack's admin connections (``Stack.postgres_admin``, ``redis_admin``) as they
come, the Postgres one by what it answers (``AdminSql``), and the replays read
the logs' files (tests/test_layers.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import redis

from harness.ground.marks import UNNAMED, is_app
from harness.observation import Change, ErrorTally, Peaks

SAMPLE_INTERVAL_S = 0.05
HANDSHAKE_COMMANDS = ("null", "hello", "client|setinfo", "auth", "select")
SHUTDOWN_MESSAGES = ("database system is shut down", "all server processes terminated")
FULL_MESSAGES = ("too many clients already", "remaining connection slots are reserved")

JOB_ERROR = re.compile(r"connlab-job-failed pid=\d+ job=\S+ (\S+): (.*)$")
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \S+ \[(\d+)\] (LOG|FATAL):  (.*)$")
_APP_NAME = re.compile(r"application_name=(\S+)")


def job_errors(run_dir: Path) -> tuple[ErrorTally, ...]:
    """Errors raised inside jobs, from the ``connlab-job-failed`` lines the workers log (harness/apps/CONTRACT.md)."""
    counts: Counter[tuple[str, str]] = Counter()
    for log in sorted(run_dir.glob("worker.*.log")):
        for line in log.read_text(errors="replace").splitlines():
            match = JOB_ERROR.search(line)
            if match:
                counts[(match.group(1), re.sub(r"\d+(\.\d+)?", "N", match.group(2).strip())[:200])] += 1
    return tuple(ErrorTally(error_class=cls, message=msg, count=n, first_s=None, source="worker")
                 for (cls, msg), n in counts.most_common())


def replay_postgres_log(path: Path) -> Peaks:
    """Exact peaks from a Postgres log written with ``log_line_prefix = '%m [%p] '`` in UTC.

    A connection opens at ``connection authorized`` and closes at its
    ``disconnection`` or FATAL line, or when the server shuts down. One refused
    for a full server after it was authorized (the reserved-slots check) never
    counted as open.
    """
    events: list[tuple[float, int, int, str] | None] = []  # (time, 1 open / 0 close, pid, group)
    refused_at: list[float] = []
    open_by_pid: dict[int, tuple[str, int]] = {}  # pid -> (group, index of its open event)
    with path.open(errors="replace") as log:
        for line in log:
            match = _LINE.match(line)
            if match is None:
                continue
            stamp, pid_text, level, message = match.groups()
            t = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
            pid = int(pid_text)
            if level == "LOG" and message.startswith("connection authorized:"):
                name_match = _APP_NAME.search(message)
                group = name_match.group(1) if name_match else UNNAMED
                if is_app(group):
                    open_by_pid[pid] = (group, len(events))
                    events.append((t, 1, pid, group))
            elif level == "LOG" and message.startswith(SHUTDOWN_MESSAGES):
                # the server went down: whatever it had not logged as closed is closed now
                events += [(t, 0, gone, group) for gone, (group, _) in open_by_pid.items()]
                open_by_pid.clear()
            elif level == "FATAL" and any(m in message for m in FULL_MESSAGES):
                refused_at.append(t)
                # refused after authorization (the reserved-slots check comes later): never a usable connection
                refused = open_by_pid.pop(pid, None)
                if refused is not None:
                    events[refused[1]] = None
            elif level == "LOG" and message.startswith("disconnection:") or level == "FATAL":
                closed = open_by_pid.pop(pid, None)
                if closed is not None:
                    events.append((t, 0, pid, closed[0]))
    ordered = sorted((e for e in events if e is not None), key=lambda e: (e[0], e[1]))  # closes first at a tie
    now: Counter[str] = Counter()
    peak_by_group: Counter[str] = Counter()
    total = peak = 0
    changes: list[Change] = []
    for t, opening, _pid, group in ordered:
        delta = 1 if opening else -1
        now[group] += delta
        total += delta
        peak_by_group[group] = max(peak_by_group[group], now[group])
        peak = max(peak, total)
        changes.append((t, group, now[group]))
    return Peaks(total=peak, by_group=dict(peak_by_group), rejected=len(refused_at),
                 first_rejected_epoch_s=min(refused_at, default=None), changes=tuple(changes),
                 refused_epoch_s=tuple(sorted(refused_at)))


class AdminSql(Protocol):
    """What the Postgres sampler needs of the harness's admin connection: a query's rows, reconnecting as needed."""

    def execute(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]: ...


@dataclass(kw_only=True)
class _Sampler:
    """A thread that calls ``_sample()`` every ``SAMPLE_INTERVAL_S`` and keeps the peaks."""

    name: str
    peak_total: int = 0
    peak_by_group: Counter[str] = field(default_factory=Counter)
    changes: list[Change] = field(default_factory=list)
    samples: int = 0
    error: str | None = None
    #: the last sample's counts per group (the live view reads it)
    latest: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sampler-{self.name}", daemon=True)

    def _sample(self) -> Counter[str]:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                counts = self._sample()
            except Exception as exc:  # noqa: BLE001 - a sampler must outlive a busy or restarting server
                self.error = f"{type(exc).__name__}: {exc}"
            else:
                now = time.time()
                total = sum(counts.values())
                self.peak_total = max(self.peak_total, total)
                for group, n in counts.items():
                    self.peak_by_group[group] = max(self.peak_by_group[group], n)
                # every group seen so far, 0 when it is gone from this sample
                self.changes += [(now, group, counts.get(group, 0)) for group in sorted(self.peak_by_group)]
                self.latest = counts
                self.samples += 1
            self._stop.wait(SAMPLE_INTERVAL_S)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> Peaks:
        self._stop.set()
        self._thread.join(timeout=5)
        self._close()
        return Peaks(total=self.peak_total, by_group=dict(self.peak_by_group), changes=tuple(self.changes))

    def _close(self) -> None:
        """Close the sampler's connection."""


class PostgresSampler(_Sampler):
    """Counts pg_stat_activity rows over the harness's one admin connection (it reconnects after a restart)."""

    QUERY = ("select coalesce(nullif(application_name, ''), %s), count(*) from pg_stat_activity "
             "where backend_type = 'client backend' and coalesce(state, 'starting') <> 'starting' "
             "and application_name not like 'connlab%%' group by 1")

    def __init__(self, admin: AdminSql) -> None:
        super().__init__(name="postgres")
        self.admin = admin

    def _sample(self) -> Counter[str]:
        return Counter({str(name): int(n) for name, n in self.admin.execute(self.QUERY, (UNNAMED,))})


class RedisSampler(_Sampler):
    """Counts CLIENT LIST entries over the harness's one admin connection (a pool of one, held all run)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(name="redis")
        self.client = client

    def _sample(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for entry in self.client.client_list():
            name = str(entry.get("name") or UNNAMED)
            if name == UNNAMED and str(entry.get("cmd", "")).lower() in HANDSHAKE_COMMANDS:
                continue  # connected a moment ago, its CLIENT SETNAME not yet run: counted once named
            if is_app(name):
                counts[name] += 1
        return counts

    def rejected(self) -> int:
        return int(self.client.info("stats").get("rejected_connections", 0))

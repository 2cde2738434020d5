"""Postgres' collector: the sampled count while the run goes, the exact replay of its log after.

The exact figures are the log's (``log.py``) whenever the log saw any connection, else the sampler's
(``sampler.py``). The live view's refusals are counted from the log as it grows, when the server writes it as
the run goes (a local one; a container's is whole only after it stops).
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Protocol

from harness.observation import Peaks, ResourceObservation
from harness.resources.base import Observed
from harness.resources.postgres.limits import NAME
from harness.resources.postgres.log import count_refusals, replay_postgres_log
from harness.resources.postgres.sampler import AdminSql, PostgresSampler


class Watched(Protocol):
    """What the collector needs of a Postgres of either backend."""

    admin: AdminSql
    log_path: Path

    @property
    def log_is_live(self) -> bool: ...


class RefusalCounter:
    """Postgres' refusals so far, counted from its log as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.count = 0
        self._lock = threading.Lock()

    def read(self) -> int | None:
        with self._lock:
            try:
                with self.path.open("rb") as log:
                    log.seek(self.offset)
                    chunk = log.read()
            except OSError:
                return None
            whole = chunk[: chunk.rfind(b"\n") + 1]
            self.offset += len(whole)
            self.count += count_refusals(whole.decode(errors="replace"))
            return self.count


def observation(exact: Peaks, sampled: Peaks, traffic_start_epoch_s: float) -> ResourceObservation:
    """The log's figures when it saw any connection (or the sampler saw none), else the sampler's."""
    use_log = bool(exact.changes) or not sampled.changes
    first = exact.first_rejected_epoch_s
    changes, refusals = exact.on_clock(traffic_start_epoch_s)
    return ResourceObservation(
        name=NAME,
        peak=exact.total if use_log else sampled.total,
        peak_method="log-events" if use_log else "sampled",
        sampled_peak=sampled.total,
        rejected=exact.rejected,
        by_group=exact.by_group if use_log else sampled.by_group,
        first_rejected_s=None if first is None else round(first - traffic_start_epoch_s, 3),
        exact=changes, sampled=sampled.on_clock(traffic_start_epoch_s)[0], refusals=refusals,
    )


class PostgresCollector:
    """``harness.resources.base.Collector`` for Postgres."""

    def __init__(self, server: Watched) -> None:
        self.server = server
        self.sampler = PostgresSampler(server.admin)
        self.refusals = RefusalCounter(server.log_path) if server.log_is_live else None
        self._sampled = Peaks(total=0, by_group={})

    @property
    def latest(self) -> Counter[str]:
        return self.sampler.latest

    def start(self) -> None:
        self.sampler.start()

    def refused_so_far(self) -> int | None:
        return self.refusals.read() if self.refusals is not None else None

    def stop(self) -> None:
        self._sampled = self.sampler.stop()

    def observe(self, *, traffic_start_epoch_s: float) -> Observed:
        exact = replay_postgres_log(self.server.log_path)
        return Observed(observation=observation(exact, self._sampled, traffic_start_epoch_s))

"""Valkey's collector: the sampled count while the run goes, the final read before teardown, the exact replay of
its log after.

The exact figures are the replay's (``log.py``) when it agrees with the server (its refusals with
``rejected_connections``, its open connections with the final CLIENT LIST); else the sampled ones, and the
timeline says why. The live view's refusals are the server's own ``rejected_connections``, read at most every
``REJECTED_EVERY_S``.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from pathlib import Path
from typing import Protocol

import redis

from harness.observation import Peaks, ResourceObservation
from harness.resources.base import Observed
from harness.resources.redis.admin import HARNESS_CONNECTIONS
from harness.resources.redis.faults import redis_kills
from harness.resources.redis.limits import NAME
from harness.resources.redis.log import FinalRead, exact_or_why, final_read, replay_redis_log
from harness.resources.redis.sampler import RedisSampler

#: how often the live view asks the server for its refusals
REJECTED_EVERY_S = 0.5


class Watched(Protocol):
    """What the collector needs of a Valkey of either backend."""

    admin: redis.Redis
    log_path: Path
    maxclients: int


class RedisCollector:
    """``harness.resources.base.Collector`` for Valkey."""

    def __init__(self, server: Watched) -> None:
        self.server = server
        self.sampler = RedisSampler(server.admin)
        self._sampled = Peaks(total=0, by_group={})
        self._final: FinalRead | None = None
        self._rejected: int | None = None
        self._rejected_at = -REJECTED_EVERY_S

    @property
    def latest(self) -> Counter[str]:
        return self.sampler.latest

    def start(self) -> None:
        self.sampler.start()

    def refused_so_far(self) -> int | None:
        now = time.monotonic()
        if now - self._rejected_at >= REJECTED_EVERY_S:
            self._rejected_at = now
            with contextlib.suppress(Exception):  # a busy or restarting server: keep the last figure
                self._rejected = self.sampler.rejected()
        return self._rejected

    def stop(self) -> None:
        self._sampled = self.sampler.stop()
        self._final = final_read(self.server.admin)  # the clients still connected, and the server's refusals

    def observe(self, *, traffic_start_epoch_s: float) -> Observed:
        sampled, final = self._sampled, self._final
        assert final is not None, "observe() comes after stop()"
        try:
            exact = replay_redis_log(self.server.log_path, maxclients=self.server.maxclients + HARNESS_CONNECTIONS,
                                     final_clients=final.clients, kills=redis_kills(self.server))
        except OSError as exc:
            why: str | None = f"Valkey's log could not be read: {exc}"
        else:
            why = exact_or_why(exact, final)
        samples = sampled.on_clock(traffic_start_epoch_s)[0]
        if why is not None:
            return Observed(observation=ResourceObservation(
                name=NAME, peak=sampled.total, peak_method="sampled", sampled_peak=sampled.total,
                rejected=final.rejected, by_group=sampled.by_group, sampled=samples),
                notes=(f"{NAME}: the sampled peak is reported, not an exact one: {why}",))
        first = exact.first_rejected_epoch_s
        changes, refusals = exact.on_clock(traffic_start_epoch_s)
        return Observed(observation=ResourceObservation(
            name=NAME, peak=exact.total, peak_method="log-events", sampled_peak=sampled.total, rejected=exact.rejected,
            by_group=exact.by_group,
            first_rejected_s=None if first is None else round(first - traffic_start_epoch_s, 3),
            exact=changes, sampled=samples, refusals=refusals))

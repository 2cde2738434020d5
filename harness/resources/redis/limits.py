"""Redis' limit in a plan (``redis: {maxclients}``), its validation, and the capacity the apps meet.

    capacity = maxclients

The harness's own connection has a slot of its own (``harness.resources.redis.server``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.resources.spec import LimitsKind
from harness.validate import Reader

NAME = "redis"
KEYS = ("maxclients",)
#: the faults an event may inject (``harness.resources.redis.faults``), with the event's fields
FAULTS: dict[str, tuple[str, ...]] = {"kill_redis_clients": ("group",)}
#: the error kind of a connection refused because the server is full ("max number of clients reached")
FULL_ERROR = "redis_full"
FULL_MESSAGES = ("max number of clients",)
#: Redis maxclients (Redis' default is 10,000; each client is a file descriptor)
MAX_CLIENTS = 1_000_000


@dataclass(frozen=True, kw_only=True)
class RedisLimits:
    maxclients: int

    @property
    def limit(self) -> int:
        """The setting the plan names: ``maxclients``."""
        return self.maxclients

    @property
    def capacity(self) -> int:
        return self.maxclients


def read(r: Reader, raw: Any) -> RedisLimits:
    """``redis:`` of a scenario; every problem goes to ``r``."""
    data = r.mapping(raw, NAME, KEYS)
    return RedisLimits(maxclients=r.integer(data, "maxclients", NAME, minimum=2, maximum=MAX_CLIENTS))


def room(limits: RedisLimits) -> str:
    return f"maxclients {limits.maxclients}"


KIND = LimitsKind(name=NAME, title="Redis", role="cache and queue", read=read, faults=FAULTS, full_error=FULL_ERROR,
                  full_markers=FULL_MESSAGES, room=room,
                  version_keys=("valkey", NAME))

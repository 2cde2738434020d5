"""The one interface every stack backend implements, and the faces every backend answers the same way.

``run``, ``events`` and the collectors see a stack only through ``Stack``: bring
it up, tell the load where the live dynos are, change the web tier (scale, a
preboot deploy), start one-offs, inject faults, give the samplers the
harness's admin connections and the collector the servers' logs, and always
take it down. ``LocalStack`` runs processes on 127.0.0.1; ``DockerStack``
runs containers. ``ServerFaces`` is the part both answer from their two servers.
The backends import this module and it imports none of them: ``make_stack``, the
one place a backend is chosen, is ``harness.stack.backends``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from redis import Redis

from harness.stack import faults
from harness.stack.postgres import AdminConnection
from harness.stack.redis import HARNESS_CONNECTIONS as REDIS_HARNESS
from harness.stack.versions import read_versions

if TYPE_CHECKING:
    from harness.ground.marks import RedisKill
    from harness.plan import Extra


class Deployment(Protocol):
    """What a preboot deploy started and must later retire (opaque to the timeline)."""


class Stack(Protocol):
    backend: str
    #: ``postgres_log`` grows while the run goes (a local server writes it); else it is whole only after ``down``
    postgres_log_is_live: bool
    startup_s: dict[str, float]
    up_s: float | None
    #: what runs, as the stack reported it once up (``harness.stack.versions``); empty before
    versions: dict[str, str]

    def up(self) -> None:
        """Start every server of the plan; on any failure stop them all and re-raise."""

    def down(self) -> None:
        """Stop everything, apps first (their disconnections must reach the servers' logs). A failed ``up`` has
        already called it and the run's own teardown calls it again: a second call after a whole one does nothing."""

    def check_alive(self) -> None:
        """Raise ``ComponentDied`` when a long-running server exited on its own."""

    @property
    def web_targets(self) -> list[str]:
        """Base URLs of the dynos that take traffic now."""

    @property
    def web_dynos(self) -> int:
        """Dynos running now, retiring ones included."""

    def scale_web(self, dynos: int) -> None: ...

    def deploy(self) -> Deployment:
        """Preboot: start a new set of dynos beside the old ones, which stop taking traffic."""

    def retire(self, deployment: Deployment) -> None:
        """Stop the dynos a deploy replaced."""

    def start_extra(self, extra: Extra) -> None: ...

    def terminate_backends(self, group: str) -> int: ...

    def restart_postgres(self) -> float: ...

    def kill_redis_clients(self, group: str) -> int: ...

    @property
    def postgres_admin(self) -> AdminConnection:
        """The harness's one Postgres connection (it has a slot of its own)."""

    @property
    def redis_admin(self) -> Redis:
        """The harness's one Redis connection (it has a slot of its own)."""

    @property
    def postgres_log(self) -> Path:
        """Postgres' log, with log_connections and log_disconnections."""

    @property
    def redis_log(self) -> Path:
        """Valkey's verbose log."""

    @property
    def redis_server_maxclients(self) -> int:
        """The maxclients the Redis server runs with (the plan's plus the harness's slot)."""

    def redis_kills(self) -> tuple[RedisKill, ...]:
        """The clients ``kill_redis_clients`` ended, in order."""


class PostgresLike(Protocol):
    """A Postgres of any backend (``PostgresServer``, ``PostgresContainer``)."""

    admin: AdminConnection
    log_path: Path

    def restart(self) -> float: ...


class RedisLike(Protocol):
    """A Valkey of any backend (``RedisServer``, ``RedisContainer``)."""

    admin: Redis
    log_path: Path
    maxclients: int


class ServerFaces:
    """The part of ``Stack`` every backend answers from its two servers, the same way: faults, the admin
    connections, the logs. A backend sets ``postgres`` and ``redis``."""

    postgres: PostgresLike
    redis: RedisLike
    up_s: float | None
    versions: dict[str, str]

    def terminate_backends(self, group: str) -> int:
        return faults.terminate_backends(self.postgres, group)

    def restart_postgres(self) -> float:
        return self.postgres.restart()

    def kill_redis_clients(self, group: str) -> int:
        return faults.kill_redis_clients(self.redis, group)

    def redis_kills(self) -> tuple[RedisKill, ...]:
        return faults.redis_kills(self.redis)

    @property
    def postgres_admin(self) -> AdminConnection:
        return self.postgres.admin

    def _up_done(self, began: float, targets: list[str]) -> None:
        """The end of a backend's ``up()``: how long it took, and what the stack reports it runs."""
        self.up_s = round(time.monotonic() - began, 3)
        self.versions = read_versions(targets=targets, postgres=self.postgres.admin, redis=self.redis.admin)

    @property
    def redis_admin(self) -> Redis:
        return self.redis.admin

    @property
    def postgres_log(self) -> Path:
        return self.postgres.log_path

    @property
    def redis_log(self) -> Path:
        return self.redis.log_path

    @property
    def redis_server_maxclients(self) -> int:
        return self.redis.maxclients + REDIS_HARNESS


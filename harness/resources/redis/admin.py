"""The harness's one Valkey connection: readiness, the CLIENT LIST sampler and the faults share it.

The server starts with ``maxclients`` + ``HARNESS_CONNECTIONS``, so the apps meet exactly the plan's
``maxclients``.
"""

from __future__ import annotations

import contextlib

import redis

from harness.resources.redis.limits import NAME

#: Connections the harness holds open during a run: its one admin connection.
HARNESS_CONNECTIONS = 1
ADMIN_NAME = "connlab-admin"


def admin_client(port: int, password: str) -> redis.Redis:
    """The harness's one Redis connection: a pool of one, so it stays one whichever thread asks (a plain pool
    would open a second under contention)."""
    return redis.Redis(connection_pool=redis.BlockingConnectionPool(  # type: ignore[no-untyped-call]
        host="127.0.0.1", port=port, password=password, client_name=ADMIN_NAME, socket_timeout=2.0,
        max_connections=1, timeout=5.0))


def answers(client: redis.Redis) -> bool:
    """A Valkey of either backend is ready when it answers PING (the readiness strategy "PING")."""
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def server_versions(admin: redis.Redis) -> dict[str, str]:
    """``{"valkey": "8.1.1"}`` (or ``{"redis": ...}`` for a Redis) from ``INFO server``; empty when it does not
    answer."""
    with contextlib.suppress(Exception):
        info = admin.info("server")
        if info.get("valkey_version"):
            return {"valkey": str(info["valkey_version"])}
        if info.get("redis_version"):
            return {NAME: str(info["redis_version"])}
    return {}

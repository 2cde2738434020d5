"""Faults the events timeline injects into a running stack, as operators and outages do.

Each takes the server and a group prefix (``web`` matches web.1, web.2 ...; an
empty prefix matches every app connection) and returns how many connections it
ended. The harness's own connections (``connlab-*``) are never touched, and the faults
run over the harness's one admin connection per server (see ``harness.stack.postgres``).
"""

from __future__ import annotations

from harness.collect import HARNESS_PREFIX, is_app
from harness.stack.postgres import PostgresServer
from harness.stack.redis import RedisServer


def terminate_backends(postgres: PostgresServer, group: str) -> int:
    """pg_terminate_backend for the app connections whose application_name starts with ``group``."""
    query = ("select count(pg_terminate_backend(pid)) from pg_stat_activity "
             "where backend_type = 'client backend' and application_name like %s "
             "and application_name not like %s")
    rows = postgres.admin.execute(query, (group.replace("%", r"\%") + "%", HARNESS_PREFIX + "%"))
    return int(rows[0][0]) if rows else 0


def kill_redis_clients(redis_server: RedisServer, group: str) -> int:
    """CLIENT KILL for the clients whose name starts with ``group``."""
    killed = 0
    client = redis_server.admin
    for entry in client.client_list():
        name = str(entry.get("name") or "")
        if name.startswith(group) and is_app(name):
            killed += int(client.client_kill_filter(_id=entry["id"]))
    return killed

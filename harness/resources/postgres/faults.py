"""What the events timeline may do to a running Postgres, as operators and outages do: ``kill_backends``
(pg_terminate_backend for a group's connections) and ``restart_postgres`` (a fast shutdown and start).

A group is a prefix (``web`` matches web.1, web.2 ...; an empty prefix matches every app connection). The
harness's own connections (``connlab-*``) are never touched, and the faults run over the harness's one admin
connection (``admin.py``).
"""

from __future__ import annotations

from typing import Protocol

from harness.ground.marks import HARNESS_PREFIX
from harness.resources.postgres.admin import AdminConnection


class PostgresServer(Protocol):
    """A Postgres of any backend: what the faults need is its admin connection, and a restart."""

    admin: AdminConnection

    def restart(self) -> float: ...


def terminate_backends(postgres: PostgresServer, group: str) -> int:
    """pg_terminate_backend for the app connections whose application_name starts with ``group``."""
    query = ("select count(pg_terminate_backend(pid)) from pg_stat_activity "
             "where backend_type = 'client backend' and application_name like %s "
             "and application_name not like %s")
    rows = postgres.admin.execute(query, (group.replace("%", r"\%") + "%", HARNESS_PREFIX + "%"))
    return int(rows[0][0]) if rows else 0


def kill_backends(server: PostgresServer, group: str) -> str:
    return f"terminated {terminate_backends(server, group)} Postgres backend(s) of {group or 'every app'}*"


def restart_postgres(server: PostgresServer, _group: str = "") -> str:
    return f"restarted Postgres (down and back in {server.restart():.1f} s)"

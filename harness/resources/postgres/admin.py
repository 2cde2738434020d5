"""The harness's one Postgres connection: readiness, setup, the sampler and the faults share it.

Postgres refuses a non-superuser when fewer than ``superuser_reserved_connections`` slots are free, counting
every backend, superusers included (measured: max_connections 5, 2 reserved, gives the app role 3
connections, and 2 while one superuser connection is open). So the harness holds exactly one connection for
the whole run, and each server starts with ``max_connections`` + ``HARNESS_CONNECTIONS``.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import psycopg

from harness.resources.postgres.limits import NAME

#: Connections the harness holds open during a run: its one admin connection.
HARNESS_CONNECTIONS = 1
ADMIN_NAME = "connlab-admin"
SUPERUSER = "postgres"


class AdminConnection:
    """The harness's one superuser connection, shared by threads under a lock; reconnects after a restart."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def execute(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Run ``query`` and return its rows; connect (again) first when needed."""
        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                if self._conn is not None:
                    self._conn.close()
                self._conn = psycopg.connect(self.dsn, autocommit=True)
            cursor = self._conn.execute(query, params)
            return cursor.fetchall() if cursor.description is not None else []

    def ping(self) -> bool:
        try:
            self.execute("select 1")
            return True
        except psycopg.Error:
            return False

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def server_versions(admin: AdminConnection) -> dict[str, str]:
    """``{"postgres": "18.1"}`` from ``SHOW server_version``; empty when the server does not answer."""
    with contextlib.suppress(Exception):
        rows = admin.execute("SHOW server_version")
        return {NAME: str(rows[0][0]).split()[0]}
    return {}

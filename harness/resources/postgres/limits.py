"""Postgres' limits in a plan (``postgres: {max_connections, superuser_reserved_connections, ssl}``), their
validation, and the capacity the apps meet.

    capacity = max_connections - superuser_reserved_connections

Postgres refuses a role that is not a superuser once fewer than ``superuser_reserved_connections`` slots are
free, so that is what production gives the apps' role (``harness.resources.postgres.server``: the harness's own
connection has a slot of its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.resources.spec import LimitsKind
from harness.validate import Reader

NAME = "postgres"
KEYS = ("max_connections", "superuser_reserved_connections", "ssl")
#: the faults an event may inject (``harness.resources.postgres.faults``), with the event's fields
FAULTS: dict[str, tuple[str, ...]] = {"kill_backends": ("group",), "restart_postgres": ()}
#: the error kind of a connection refused because the server is full, and what Postgres says then (the refusal
#: markers: its log's FATAL lines and the apps' errors carry them)
FULL_ERROR = "server_full"
FULL_MESSAGES = ("too many clients already", "remaining connection slots are reserved")
#: Postgres' own ceiling on max_connections (MAX_BACKENDS, 2^18 - 1)
MAX_CONNECTIONS = 262_143


def capacity(*, max_connections: int, superuser_reserved_connections: int) -> int:
    """What production gives the apps' role (not a superuser): ``max_connections - superuser_reserved_connections``."""
    return max_connections - superuser_reserved_connections


@dataclass(frozen=True, kw_only=True)
class PostgresLimits:
    max_connections: int
    superuser_reserved_connections: int = 3
    ssl: bool = False

    @property
    def limit(self) -> int:
        """The setting the plan names: ``max_connections``."""
        return self.max_connections

    @property
    def capacity(self) -> int:
        return capacity(max_connections=self.max_connections,
                        superuser_reserved_connections=self.superuser_reserved_connections)


def read(r: Reader, raw: Any) -> PostgresLimits:
    """``postgres:`` of a scenario; every problem goes to ``r`` (reported once each)."""
    data = r.mapping(raw, NAME, KEYS)
    known = len(r.problems)
    limits = PostgresLimits(
        max_connections=r.integer(data, "max_connections", NAME, minimum=2, maximum=MAX_CONNECTIONS),
        superuser_reserved_connections=r.integer(data, "superuser_reserved_connections", NAME,
                                                 minimum=0, maximum=MAX_CONNECTIONS, default=3),
        ssl=r.boolean(data, "ssl", NAME, default=False),
    )
    # compare the two only when both were read as given: a mistake in one is reported once, not twice
    if len(r.problems) == known and limits.superuser_reserved_connections >= limits.max_connections:
        r.problem(f"{NAME}.superuser_reserved_connections", f"must be below max_connections ({limits.max_connections})")
    return limits


def refusal_note(limits: PostgresLimits) -> str:
    """Why Postgres can refuse while its peak stays below capacity: a refused attempt holds a reserved slot."""
    if limits.superuser_reserved_connections == 0:
        return ""
    return ("with reserved slots a refused attempt holds a slot until its backend exits (measured: with ~450 "
            "refused attempts a second, 730 reconnects into a free slot met 576 refusals)")


def room(limits: PostgresLimits) -> str:
    """``capacity 10 (max_connections 13 - 3 reserved)``; no parenthesis when nothing is reserved."""
    reserved = limits.superuser_reserved_connections
    return f"capacity {limits.capacity}" + (f" (max_connections {limits.max_connections} - {reserved} reserved)"
                                           if reserved else "")


KIND = LimitsKind(name=NAME, title="Postgres", role="database", read=read, faults=FAULTS, full_error=FULL_ERROR,
                  full_markers=FULL_MESSAGES, refusal_note=refusal_note, room=room,
                  version_keys=(NAME,))

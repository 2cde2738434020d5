"""The server kinds by name, in the order every stage shows them: one line per kind.

A new server kind is a package under ``harness/resources/`` (``harness.resources.base`` says what it holds),
its ``limits`` line in ``harness.resources.limits`` and its ``RESOURCE`` line here.
"""

from __future__ import annotations

from harness.resources.base import Fault, Resource
from harness.resources.limits import FAULT_SERVER
from harness.resources.postgres.resource import RESOURCE as POSTGRES
from harness.resources.redis.resource import RESOURCE as REDIS

__all__ = ["RESOURCES", "fault", "resource"]

RESOURCES: dict[str, Resource] = {entry.name: entry for entry in (POSTGRES, REDIS)}


def resource(name: str) -> Resource:
    return RESOURCES[name]


def fault(action: str) -> tuple[Resource, Fault]:
    """The server an event's fault acts on, and the fault."""
    entry = RESOURCES[FAULT_SERVER[action]]
    return entry, entry.faults[action]

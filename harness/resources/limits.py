"""The servers a plan can name, by their key in the scenario file: each one's limits and their reader.

This is the registry the plan and the verdict read (``harness.plan``, ``harness.verdict``), kept apart from the
full one (``harness.resources.registry``), which brings the servers, collectors and faults: reading a plan
starts nothing and imports no driver. A new server kind adds its ``limits`` module's ``KIND`` here, one line,
and its ``RESOURCE`` to the registry.
"""

from __future__ import annotations

from harness.resources.postgres import limits as postgres_limits
from harness.resources.redis import limits as redis_limits
from harness.resources.spec import Limits, LimitsKind

__all__ = ["FAULTS", "FAULT_SERVER", "LIMITS", "Limits", "LimitsKind"]


LIMITS: dict[str, LimitsKind] = {kind.name: kind for kind in (postgres_limits.KIND, redis_limits.KIND)}

#: every fault an event may inject, by action: the event's fields
FAULTS: dict[str, tuple[str, ...]] = {action: fields for kind in LIMITS.values()
                                      for action, fields in kind.faults.items()}
#: the server a fault acts on
FAULT_SERVER: dict[str, str] = {action: kind.name for kind in LIMITS.values() for action in kind.faults}

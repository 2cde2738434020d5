"""Each server kind's demand module by name: the function that gives every process group's connections on it.

``harness.predict`` loops over these, in the registry's order, and names none. Light: a demand module imports
the plan, the kinds and the prediction's types, no driver and no server. A new server kind adds its line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from harness.plan import Plan
from harness.prediction import GroupPrediction
from harness.resources.postgres import demand as postgres_demand
from harness.resources.postgres.limits import NAME as POSTGRES
from harness.resources.redis import demand as redis_demand
from harness.resources.redis.limits import NAME as REDIS

__all__ = ["DEMANDS", "GroupsOf"]


class GroupsOf(Protocol):
    """The groups' connections on one server kind, with the web tier at ``dynos``, for the stack's ``versions``."""

    def __call__(self, plan: Plan, *, dynos: int, versions: Mapping[str, str]) -> list[GroupPrediction]: ...


DEMANDS: dict[str, GroupsOf] = {
    POSTGRES: postgres_demand.groups,
    REDIS: redis_demand.groups,
}

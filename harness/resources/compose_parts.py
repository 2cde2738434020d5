"""Each server kind's part of ``connlab compose``'s file by name (``harness.resources.compose_spec``), in the
registry's order: ``harness.compose`` loops over the plan's servers with these and names none, and the CLI
declares each one's ``--<name>-port``. A new server kind adds its ``compose`` module's ``PART`` here, one line.
"""

from __future__ import annotations

from harness.resources.compose_spec import ComposePart
from harness.resources.postgres import compose as postgres_compose
from harness.resources.redis import compose as redis_compose

__all__ = ["COMPOSE_PARTS", "ComposePart"]

COMPOSE_PARTS: dict[str, ComposePart] = {part.name: part for part in (postgres_compose.PART, redis_compose.PART)}

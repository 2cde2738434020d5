"""How the harness marks its own presence on the servers, for the stack that leaves the marks and the collectors.

Its own connections are named ``connlab-*`` (``HARNESS_PREFIX``): the faults never end them and the collectors
never count them (``is_app``); an app connection that never named itself counts as ``UNNAMED``. Valkey does not
log CLIENT KILL, so each kill the faults send (``harness.stack.faults``) is preceded, in the same MULTI, by a
``DEBUG LOG`` line starting with ``KILL_MARK``, and recorded as a ``RedisKill``: the log replay
(``harness.redis_log``) places the kill at its marker, or by its time when the marker is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HARNESS_PREFIX", "KILL_MARK", "UNNAMED", "RedisKill", "is_app"]

HARNESS_PREFIX = "connlab"
UNNAMED = "(unnamed)"
KILL_MARK = "DEBUG LOG: connlab-kill "


def is_app(name: str) -> bool:
    """False for the harness's own connections (``connlab-*``)."""
    return not name.startswith(HARNESS_PREFIX)


@dataclass(frozen=True, kw_only=True)
class RedisKill:
    """A client the harness ended with CLIENT KILL: its address, name and when the kill was sent."""

    addr: str
    name: str
    epoch_s: float

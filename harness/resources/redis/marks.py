"""The marks a CLIENT KILL leaves, for the fault that sends it (``faults.py``) and the log replay (``log.py``).

Valkey does not log CLIENT KILL, so each kill is preceded, in the same MULTI, by a ``DEBUG LOG`` line starting
with ``KILL_MARK``, and recorded as a ``RedisKill``: the replay places the kill at its marker, or by its time
when the marker is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

KILL_MARK = "DEBUG LOG: connlab-kill "


@dataclass(frozen=True, kw_only=True)
class RedisKill:
    """A client the harness ended with CLIENT KILL: its address, name and when the kill was sent."""

    addr: str
    name: str
    epoch_s: float

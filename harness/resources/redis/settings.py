"""The arguments every connlab Valkey runs with, whichever backend starts it (``server.py``, ``container.py``,
``harness.compose``)."""

from __future__ import annotations

from harness.resources.redis.admin import HARNESS_CONNECTIONS


def server_args(*, maxclients: int, debug_command: str) -> list[str]:
    """The arguments every connlab Valkey runs with, whichever backend starts it: the plan's maxclients plus the
    harness's slot, and the log ``harness.redis_log`` replays (every accept and close, names included, epoch-ms
    stamps, and the harness's DEBUG LOG markers for its kills and its last CLIENT LIST)."""
    return ["--maxclients", str(maxclients + HARNESS_CONNECTIONS), "--save", "", "--appendonly", "no",
            "--loglevel", "verbose", "--hide-user-data-from-log", "no", "--log-timestamp-format", "milliseconds",
            "--enable-debug-command", debug_command]

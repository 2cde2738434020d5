"""How the harness marks its own presence on the servers, for the faults that leave marks and the collectors.

Its own connections are named ``connlab-*`` (``HARNESS_PREFIX``): the faults never end them and the collectors
never count them (``is_app``); an app connection that never named itself counts as ``UNNAMED``. A server kind's
own marks (a kill's marker in its log) are its package's (``harness.resources.<name>``).
"""

from __future__ import annotations

__all__ = ["HARNESS_PREFIX", "UNNAMED", "is_app"]

HARNESS_PREFIX = "connlab"
UNNAMED = "(unnamed)"


def is_app(name: str) -> bool:
    """False for the harness's own connections (``connlab-*``)."""
    return not name.startswith(HARNESS_PREFIX)

"""The job the worker runs: hold one database connection for a while.

This is the plain function; ``connlab_twin.queue.declare_hold`` turns it into
a dramatiq actor on a given broker, so that no broker (and no Redis pool) is
created as a side effect of importing this module.
"""

from __future__ import annotations

from connlab_twin import db

#: The dramatiq actor name (and so the message's ``actor_name``).
HOLD = "hold"


def hold(ms: float) -> None:
    """Check a connection out of this process's pool and ``pg_sleep`` ``ms`` ms."""
    db.pg_sleep(db.engine.get(), ms)

"""The job the worker runs: hold one database connection for a while (after a cache read, if asked).

This is the plain function; ``connlab_twin.broker.declare_hold`` turns it into
a dramatiq actor on a given broker, so that no broker (and no Redis pool) is
created as a side effect of importing this module. RQ enqueues it by name
(``connlab_twin.jobs.hold``) and runs it in a forked work horse.
"""

from __future__ import annotations

from connlab_twin import cache, db, fork

#: The dramatiq actor name (and so the message's ``actor_name``).
HOLD = "hold"


def hold(ms: float, cache_ms: float = 0) -> None:
    """Check a connection out of this process's pool and ``pg_sleep`` ``ms`` ms.

    The pool is the process's own (fork safe) or, with CONNLAB_FORK_SAFETY=unsafe,
    the one a parent opened before forking (see ``connlab_twin.fork``). With
    ``cache_ms`` > 0 the job first reads the cache, holding a connection of this
    process's cache pool that long (``connlab_twin.cache``).
    """
    if cache_ms > 0:
        cache.read(cache_ms)
    db.pg_sleep(fork.engine(), ms)

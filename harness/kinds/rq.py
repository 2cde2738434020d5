"""RQ on Redis: workers that fork a work horse per job (``rq worker``, ``rq worker-pool -n C``).

Per C workers (``rq worker``: C = 1)::

    expected = 3C   each worker's fetch connection and its pubsub thread, and each running horse's own (redis-py
                    does not share a pool across fork)
    worst    = 4C   a horse recording its result holds a second (a WATCH pipeline and a call inside it)

Postgres, per C workers: expected = C, a connection per running work horse (one thread each, whatever the
pool); worst = C + 1 when the parent connected before forking (the fork-unsafe pattern: the parent's connection
is not always there when the horses' are). The forking-worker scenarios check it with no exact peak.

Redis measured: C = 3: 12 in 5 of 7 runs, 11 in 2 (forking-worker-safe), 9 twice (forking-worker-unsafe).
"""

from __future__ import annotations

from harness.kinds.demand import Demand

#: What the report and the demo call a process of this kind.
TITLE = "RQ"


def worker_redis(*, workers: int) -> Demand:
    c = workers
    return Demand(kind=TITLE, expected=3 * c, worst=4 * c,
                  formula=f"3C = {3 * c}: fetch + pubsub per worker + each horse's own; 4C = {4 * c}: a horse "
                          "recording its result")


def worker_postgres(*, workers: int, unsafe: bool = False) -> Demand:
    """Postgres connections of ``workers`` RQ workers' horses (module docstring)."""
    c, extra = workers, 1 if unsafe else 0
    return Demand(kind=TITLE, expected=c, worst=c + extra,
                  formula=f"C = {c}: a connection per running horse" + (" (+ 1: the parent's, fork-unsafe)"
                                                                         if unsafe else ""))

"""RQ on Redis: workers that fork a work horse per job (``rq worker``, ``rq worker-pool -n C``).

Per C workers (``rq worker``: C = 1)::

    expected = 3C   each worker's fetch connection and its pubsub thread, and each running horse's own (redis-py
                    does not share a pool across fork)
    worst    = 4C   a horse recording its result holds a second (a WATCH pipeline and a call inside it)

Measured: C = 3: 12 in 5 of 7 runs, 11 in 2 (forking-worker-safe), 9 twice (forking-worker-unsafe).
"""

from __future__ import annotations

from harness.kinds.demand import Demand

#: What the report and the demo call a process of this kind.
TITLE = "RQ"


def worker_redis(*, workers: int) -> Demand:
    c = workers
    return Demand(expected=3 * c, worst=4 * c,
                  formula=f"3C = {3 * c}: fetch + pubsub per worker + each horse's own; 4C = {4 * c}: a horse "
                          "recording its result")

"""dramatiq's RedisBroker, per worker process of T threads.

::

    expected = 1       the queue's and the delay queue's consumers share the pool; each fetch is a non-blocking
                       ~1 ms Lua call, then a backoff sleep, so a second connection opens only when two overlap
    worst    = T + 2   both consumers at once, plus an ack per job thread finishing together (unbounded pool)

Measured: T = 2: 2 (baseline 5 runs); T = 3 or 5 idle: 2 (16 runs, both opened within 4 ms of boot), 1 in a CI
run on a loaded machine; 3 with jobs reading the cache.
"""

from __future__ import annotations

from dataclasses import replace

from harness.kinds import sqlalchemy
from harness.kinds.demand import Demand

#: What the report and the demo call a process of this kind.
TITLE = "dramatiq"


def worker_redis(*, threads: int) -> Demand:
    t = threads
    return Demand(kind=TITLE, expected=1, worst=t + 2,
                  formula=f"1 .. T + 2 = {t + 2}: two consumers' fetches + an ack per job thread")


def worker_postgres(*, threads: int, pool: int) -> Demand:
    """Postgres connections of one dramatiq worker process: its threads share the SQLAlchemy pool
    (``harness.kinds.sqlalchemy``): min(T, S), worst S."""
    return replace(sqlalchemy.pool_postgres(threads=threads, size=pool, holders="concurrency"), kind=TITLE)

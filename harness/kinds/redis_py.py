"""A redis-py client shared by a process's threads: RQ's ``Queue`` and dramatiq's ``RedisBroker`` in a process that
only enqueues (the web), django-rq's ``get_queue``.

redis-py's ``ConnectionPool`` opens a connection when a command finds none free and keeps it (``max_connections``
unbounded by default: redis/connection.py ``ConnectionPool.get_connection``), so per process of T threads::

    expected = 1            an enqueue (RQ: a pipeline of ~3 commands; dramatiq: one Lua call) holds it ~1 ms
    worst    = min(T, size) every thread enqueuing at once (size: the pool's max_connections, else T)
"""

from __future__ import annotations

from harness.kinds.demand import Demand


def client_redis(*, threads: int, size: int | None = None, what: str = "enqueues") -> Demand:
    worst = threads if size is None else min(threads, size)
    bound = f"min({threads} threads, max_connections {size})" if size is not None else f"{threads} threads"
    return Demand(expected=min(1, worst), worst=worst,
                  formula=f"1 .. {bound} = {worst}: {what} of ~1 ms on a redis-py pool, load-dependent")

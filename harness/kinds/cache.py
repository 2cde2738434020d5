"""A cache pool on Redis (Rails' ``redis_cache_store``, the twin's cache, django-redis), in any process.

Per process of T threads, through a pool of ``size``::

    expected = min(T, size)  when nothing else holds the threads for long (every request a cache read: sure)
             = 1             otherwise: how many reads ever overlap depends on the load
    worst    = min(T, size)  every thread in a cache read at once
    unpooled (one client shared by the process, Rails < 7.1 without ``pool``): 1 and 1

Measured (``connlab run redis-fits`` / ``rails-redis-fits``, 2 x 5, every request a 500 ms cache read): 5 + 5 in
7 of 7 runs per app; 2 x 4 with enqueues beside: 4 + 4 (4 of 4 per app); with /db requests beside (cache 0.5,
500 ms each): 7 and 8 of 8, load-dependent. Jobs reading the cache (C = 3, 200 ms): 3 (Sidekiq, dramatiq).
"""

from __future__ import annotations

from harness.kinds.demand import Demand


def cache_redis(*, threads: int, size: int, sure: bool = False, what: str = "cache pool") -> Demand:
    """Redis connections of one process's cache pool (module docstring); ``sure``: every thread reads the cache."""
    worst = min(threads, size)
    expected = worst if sure else min(1, worst)
    how = "every thread reading the cache" if sure else "load-dependent: how many reads overlap"
    return Demand(expected=expected, worst=worst,
                  formula=f"{expected} .. min({threads} threads, {what} {size}) = {worst} ({how})")


def unpooled_redis(*, what: str = "cache client") -> Demand:
    """One Redis client shared by the process's threads: 1 connection."""
    return Demand(expected=1, worst=1, formula=f"1: one {what} shared by every thread")

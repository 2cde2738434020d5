"""The app's cache on Redis: a redis-py client over a pool of its own, one per process.

``read(ms)`` is the twin of the Rails app's ``connlab_cache_read``: a cache
read that holds its Redis connection ``ms`` milliseconds, by a server-side
wait (BLPOP with a fractional timeout on a list nobody pushes to, as
``pg_sleep`` is for Postgres), then reads the cached value. ``ms = 0`` is a
plain read (a BLPOP timeout of 0 would wait forever).

The pool is a ``BlockingConnectionPool`` of ``CONNLAB_THREADS`` connections in
a web worker process (``CONNLAB_CONCURRENCY`` in a job worker; an RQ work horse
is one thread and opens one), apart from the pool the job library enqueues
through (``broker.web_pool``), as a cache client and a queue client are in
most apps: a thread never waits for it, and connections open lazily, one per
thread that reads at the same instant, and stay open. A connection Redis
refuses ("max number of clients reached") raises
``redis.exceptions.ConnectionError``: a 504 for users, a failed job in a
worker. No socket timeout: BLPOP's own timeout bounds the wait.
"""

from __future__ import annotations

import redis

from connlab_twin import config
from connlab_twin.per_process import PerProcess

#: The cached value every read fetches (absent: a miss, which is fine).
KEY = "connlab:cache:greeting"
#: The list the hold waits on; nothing ever pushes to it.
HOLD_KEY = "connlab:cache:never-pushed"


def _client() -> redis.Redis:
    settings = config.cache()
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url,
        client_name=settings.group,
        max_connections=settings.pool,
        timeout=settings.checkout_timeout_s,
    )
    return redis.Redis(connection_pool=pool)


#: This process's cache client (its pool is built on first use, after fork).
client: PerProcess[redis.Redis] = PerProcess(_client)


def read(ms: float) -> None:
    """Read the cache, holding one pooled Redis connection for ``ms`` milliseconds first."""
    redis_client = client.get()
    if ms > 0:
        redis_client.blpop([HOLD_KEY], timeout=ms / 1000.0)
    redis_client.get(KEY)

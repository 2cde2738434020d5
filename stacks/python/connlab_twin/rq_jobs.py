"""RQ's side of the app (CONNLAB_JOBS=rq): the queue and how ``hold`` jobs go on it.

The web enqueues ``connlab_twin.jobs.hold`` by reference onto one queue;
``connlab_twin.rq_worker`` consumes it. Building a queue opens no connection.
"""

from __future__ import annotations

import math

import redis
import rq

from connlab_twin import jobs

#: The one RQ queue of the app.
QUEUE = "connlab"
#: Seconds a ``hold`` job may run beyond its own ``ms`` before RQ's death
#: penalty (SIGALRM in the work horse) fails it with JobTimeoutException: a
#: horse stuck on a garbled connection fails within seconds, not RQ's 180.
HOLD_GRACE_S = 10


def make_queue(client: redis.Redis) -> rq.Queue:
    """The app's queue over ``client`` (whose pool sets the client name)."""
    return rq.Queue(QUEUE, connection=client)


def enqueue_hold(queue: rq.Queue, ms: float, cache_ms: float = 0) -> None:
    """Enqueue one ``hold(ms, cache_ms)`` job; on success its result is not kept."""
    queue.enqueue(
        jobs.hold,
        ms,
        cache_ms,
        job_timeout=math.ceil((ms + cache_ms) / 1000.0) + HOLD_GRACE_S,
        result_ttl=0,
    )

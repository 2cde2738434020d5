"""harness.kinds: each kind's Redis formula with hand-computed numbers (the ones predict and check both use)."""

from __future__ import annotations

import harness.kinds
from harness.kinds import Demand, cache, dramatiq, resque, rq, sidekiq


def figures(demand: Demand) -> tuple[int, int]:
    return demand.expected, demand.worst


def test_the_public_names_are_pinned() -> None:
    assert harness.kinds.__all__ == ["Demand"]


def test_sidekiq_server_and_client() -> None:
    # C = 10: a BRPOP per processor + the heartbeat = 11; Sidekiq 6: the server pool 10 + 5; Sidekiq 7: 10 + 10
    assert figures(sidekiq.server_redis(concurrency=10, major=6)) == (11, 15)
    assert figures(sidekiq.server_redis(concurrency=10, major=7)) == (11, 20)
    # the web's client pool: Sidekiq 6 sizes it RAILS_MAX_THREADS (else 5), Sidekiq 7 uses the internal pool of 10
    assert sidekiq.client_pool_size(major=6, rails_max_threads=None) == 5
    assert sidekiq.client_pool_size(major=6, rails_max_threads=8) == 8
    assert sidekiq.client_pool_size(major=7, rails_max_threads=32) == 10
    # 16 Puma threads through Sidekiq 7's pool of 10: 1 expected, 10 at worst; 3 threads: 3 at worst
    assert figures(sidekiq.client_redis(threads=16, pool_size=10)) == (1, 10)
    assert figures(sidekiq.client_redis(threads=3, pool_size=10)) == (1, 3)


def test_cache_pools_forking_workers_and_dramatiq() -> None:
    # 5 threads, a pool of 5: 5 sure when every request reads the cache, else 1; 5 at worst. 8 threads, pool 5: 5
    assert figures(cache.cache_redis(threads=5, size=5, sure=True)) == (5, 5)
    assert figures(cache.cache_redis(threads=8, size=5)) == (1, 5)
    assert figures(cache.unpooled_redis()) == (1, 1)
    assert figures(resque.worker_redis(workers=3)) == (6, 6)  # 2C
    assert figures(rq.worker_redis(workers=3)) == (9, 12)  # 3C, 4C
    assert figures(dramatiq.worker_redis(threads=8)) == (1, 10)  # 1, T + 2
    both = sidekiq.server_redis(concurrency=3, major=6) + cache.cache_redis(threads=3, size=3)
    assert figures(both) == (4 + 1, 8 + 3) and "; " in both.formula


def test_action_cable_solid_queue_and_resque_without_fork() -> None:
    from harness.kinds import action_cable, solid_queue

    # ActionCable's redis adapter: the listener (first subscribe) + the broadcast client (first broadcast)
    assert figures(action_cable.web_redis()) == (1, 2)
    assert figures(action_cable.broadcaster_redis()) == (0, 1)
    # a tree: supervisor 2 + dispatcher 3 + scheduler 1 + 2 workers x (3 threads + 2) = 16 on a queue pool of 10
    assert figures(solid_queue.queue_connections(supervisors=1, dispatchers=1, schedulers=1, workers=[(2, 3)],
                                                 pool=10)) == (16, 16)
    # the same on a pool of 4: 2 + 3 + 1 + 2 x min(5, 4) = 14
    assert figures(solid_queue.queue_connections(supervisors=1, dispatchers=1, schedulers=1, workers=[(2, 3)],
                                                 pool=4)) == (14, 14)
    # their jobs on the primary, pool 5: 2 x min(3, 5) = 6, 2 x 5 = 10 at worst
    assert figures(solid_queue.job_connections(workers=[(2, 3)], pool=5)) == (6, 10)
    # Resque with FORK_PER_JOB=false: no child per job, C connections
    assert figures(resque.worker_redis(workers=3, fork_per_job=False)) == (3, 3)


def test_celery_and_redis_py_clients() -> None:
    from harness.kinds import celery, redis_py

    # a worker's main process, measured (Celery 5.7): 10, whatever -c; 8 without gossip; 4 without all three
    assert figures(celery.main_redis()) == (10, 10)
    assert figures(celery.main_redis(frozenset({"gossip"}))) == (8, 8)
    assert figures(celery.main_redis(frozenset({"gossip", "heartbeat"}))) == (8, 8)  # the smaller single: 8
    assert figures(celery.main_redis(frozenset({"gossip", "mingle", "heartbeat"}))) == (4, 4)
    # a prefork child: the result backend's client 1, + 2 (a producer) when a task sends a task; no backend: 0 .. 2
    assert figures(celery.child_redis(result_backend=True)) == (1, 3)
    assert figures(celery.child_redis(result_backend=False)) == (0, 2)
    # a threaded pool of 6: a backend client per thread, 6, + 6 producers x 2 = 18
    assert figures(celery.child_redis(result_backend=True, threads=6)) == (6, 18)
    # the web enqueuing from 16 threads through broker_pool_limit 10: 2 .. 2 x 10 = 20
    assert figures(celery.client_redis(threads=16)) == (2, 20)
    # 4 threads, Redis result backend: 2 + 1 .. 2 x 4 + 2 x 4 (a result consumer and a result client each) = 16
    assert figures(celery.client_redis(threads=4, result_backend=True)) == (3, 16)
    assert figures(celery.beat_redis()) == (2, 2)
    # a redis-py client shared by 8 threads: 1 .. 8; with max_connections 3: 1 .. 3
    assert figures(redis_py.client_redis(threads=8)) == (1, 8)
    assert figures(redis_py.client_redis(threads=8, size=3)) == (1, 3)

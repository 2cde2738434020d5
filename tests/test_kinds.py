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

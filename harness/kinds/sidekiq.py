"""Sidekiq on Redis: the server process (a job worker) and the client pool a web process enqueues through.

Server, per process of concurrency C::

    expected = C + 1         a BRPOP per processor (2 s timeout, then again) + the heartbeat every 5 s
    worst    = C + 5         Sidekiq 6: one server pool of concurrency + 5 (redis_connection.rb)
             = C + 10        Sidekiq 7+: the capsule's pool (C) beside the internal pool of 10 (config.rb
                             local_redis_pool); the scheduler's poller, every 5-15 s, is the rare extra

Measured (``connlab run``; peaks per group replayed from Valkey's log): C = 2: 3 (rails-baseline, 4 runs);
C = 3: 4 (autoscale, 5 runs); C = 5: 6 (rails-redis-fits/full, 20 runs); C = 10: 11 in 5 of 6 processes
(sidekiq; one held 10, its first heartbeat done before the processors waited); Sidekiq 7.3 at C = 10: 11
(``--backend docker``, 2 runs).

Client, per web process of T threads (``Sidekiq::Client`` on a process that is not a Sidekiq server)::

    expected = 1             an enqueue holds a connection ~1 ms: one, unless two threads enqueue at once
    worst    = min(T, size)  every thread enqueuing at the same instant; size = the client pool's:
                             Sidekiq 6: RAILS_MAX_THREADS, else 5 (redis_connection.rb); Sidekiq 7+: the
                             internal pool, 10

Measured: 1 per process at low enqueue rates (autoscale 2 x 3 at 10 %: 1 in 10 of 10 processes), 2 of 2
(1 x 2 at 50 %), 4 of 4 (2 x 4 at 70 % with 20 ms cache reads): load-dependent, between the two.
"""

from __future__ import annotations

from dataclasses import replace

from harness.kinds import activerecord
from harness.kinds.demand import Demand

#: What the report and the demo call a process of this kind.
TITLE = "Sidekiq"

SIDEKIQ6_SERVER_EXTRA = 5
INTERNAL_POOL = 10  # Sidekiq 7+: Sidekiq::Config#local_redis_pool
SIDEKIQ6_CLIENT_DEFAULT = 5


def server_redis(*, concurrency: int, major: int) -> Demand:
    """Redis connections of one Sidekiq server process of concurrency ``concurrency`` (module docstring)."""
    c = concurrency
    extra = INTERNAL_POOL if major >= 7 else SIDEKIQ6_SERVER_EXTRA
    why = (f"the capsules' pools ({c}) + the internal pool {INTERNAL_POOL}" if major >= 7
           else f"the server pool, concurrency + {SIDEKIQ6_SERVER_EXTRA}")
    return Demand(kind=TITLE, expected=c + 1, worst=c + extra,
                  formula=f"C + 1 = {c + 1}: a BRPOP per processor + the heartbeat; C + {extra} = {c + extra}: {why} "
                          f"(Sidekiq {major})")


def client_pool_size(*, major: int, rails_max_threads: int | None) -> int:
    """The client pool a non-server process enqueues through (module docstring)."""
    if major >= 7:
        return INTERNAL_POOL
    return rails_max_threads if rails_max_threads is not None else SIDEKIQ6_CLIENT_DEFAULT


def client_redis(*, threads: int, pool_size: int) -> Demand:
    """Redis connections of one process that enqueues from ``threads`` threads through a pool of ``pool_size``."""
    worst = min(threads, pool_size)
    return Demand(expected=min(1, worst), worst=worst,
                  formula=f"1 .. min({threads} threads, client pool {pool_size}) = {worst}: enqueues of ~1 ms, "
                          "load-dependent")


def server_postgres(*, concurrency: int, pool: int) -> Demand:
    """Postgres connections of one Sidekiq server process: its processors share the Active Record pool
    (``harness.kinds.activerecord``): min(C, S), worst S."""
    return replace(activerecord.pool_postgres(threads=concurrency, pool=pool, holders="concurrency"), kind=TITLE)

"""Active Record's connection pool on Postgres: a Puma or Unicorn web process, a Sidekiq server, a Rails one-off.

Per process of T threads (Puma's ``threads``; Unicorn: T = 1; Sidekiq: T = its concurrency C) and a pool of S
(``pool:`` in database.yml)::

    expected = min(T, S)    a thread holds at most one connection, and the pool lends at most S at once; Rails
                            <= 7.1 holds it from the request's first query to its end
    worst    = S            every pool filled to its size (threads that died and were replaced, app code that
                            spawns threads); for Unicorn a pool over 1 only waits

Rails >= 7.2 checks a connection out per query (``harness.kinds.per_query``).

A preloaded, fork-unsafe master (``preload_app`` with connections made in the master and kept, config.ru): the
master's own Active Record connection and the raw one every worker shares; the workers' pools, rebuilt after
fork, open nothing (their /db uses the shared one), whatever the traffic. Per dyno of P processes::

    expected = 2            worst = 2 + P x S

Unicorn 6.0 (Rails 6.1, 3 dynos x 3 workers, ``connlab run``): rails-unicorn-pool-5
(pool 5, Postgres 18): peak 9, 3 per dyno, in 10 of 10 runs; rails-unicorn-safe (pool 1,
after_fork connect, Postgres 15 with SSL): 9 in 14 of 14 (6 at the shipped 200 ms
queries, 8 at 50 ms), no error; both 9 on the docker backend too (Rails 7.2, Unicorn
6.1; the safe one without SSL). rails-unicorn-fork-unsafe (pool 5, a connection made
in the preloaded master, SSL): 6, 2 per dyno, in 15 of 15 (6 at 200 ms, 9 at 50 ms);
every worker's first request PG::ConnectionBad (SSL errors: 9 in every run), then
PG::UnableToSend "no connection to the server" for every later one (every request
failed in 13 runs, all but 1 of ~650 in 2). Puma's rails-fork-unsafe (3 x 2, with
and without SSL): 2 as well.
"""

from __future__ import annotations

from harness.kinds.demand import Demand, holding

#: What the report and the demo call a pool of this kind.
TITLE = "Active Record"


def pool_postgres(*, threads: int, pool: int, holders: str = "thread") -> Demand:
    """Postgres connections of one process whose ``threads`` share a pool of ``pool`` (module docstring);
    ``holders`` names the threads in the formula (``thread``; a Sidekiq server's are its ``concurrency``)."""
    held = min(threads, pool)
    who = holding(threads, holders)
    return Demand(expected=held, worst=pool, formula=f"min({who}, pool {pool})")


def preloaded_unsafe_postgres(*, processes: int, pool: int) -> Demand:
    """One dyno of ``processes`` forked from a master that connected before forking (module docstring)."""
    return Demand(expected=2, worst=2 + processes * pool,
                  formula=f"2: the master's connection and the one its workers share; 2 + {processes} x {pool} "
                          "every pool full")

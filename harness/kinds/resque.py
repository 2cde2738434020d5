"""A Resque-style forking worker on Redis (Resque, resque-pool, the Rails sample app's forking worker).

Per process running C workers (resque-pool: C = the pool's worker count for the queue set)::

    expected = worst = 2C    each worker keeps its BLPOP connection; each running child opens its own (Resque's
                             reconnect after fork) and closes it before it exits; the supervisor opens none
    FORK_PER_JOB=false:  C   the job runs in the worker itself, on the worker's own connection (Resque's
                             ``Worker#fork_per_job?``: ``ENV["FORK_PER_JOB"] != 'false'``, lib/resque/worker.rb)

Postgres, per process of C workers: expected = worst = C, one connection per running child (the guidance's
``before_fork`` closes the worker's own before it forks); a fork-unsafe worker (it connected before forking and
kept it): C + 1 both, since Active Record discards inherited pools, so every child opens its own beside the
parent's shared one. Measured (rails-forking-worker-safe / -unsafe, C = 3, 100 ms jobs, queue kept full, Postgres
15 with SSL): 3 in 10 of 10 runs safe, no failed job; 4 in 10 of 10 unsafe, 38-56 failed jobs in 4-5 s; on Rails
7.2 (``--backend docker``): 3 and 4, one run each.

Redis measured: C = 3: 6 in 20 of 20 runs (rails-forking-worker-safe / -unsafe, 100 ms jobs, queue kept full; also
Rails 7.2 / redis-rb 5.3, ``--backend docker``, 2 runs). ``FORK_PER_JOB=false`` is read from Resque's source, not
measured.
"""

from __future__ import annotations

from harness.kinds.demand import Demand

#: What the report and the demo call a process of this kind.
TITLE = "Resque-style"


def worker_redis(*, workers: int, fork_per_job: bool = True) -> Demand:
    c = workers
    if not fork_per_job:
        return Demand(kind=TITLE, expected=c, worst=c,
                      formula=f"C = {c}: a connection per worker (FORK_PER_JOB=false: no child)")
    return Demand(kind=TITLE, expected=2 * c, worst=2 * c,
                  formula=f"2C = {2 * c}: a BLPOP connection per worker + one per running child")


def worker_postgres(*, workers: int, unsafe: bool = False) -> Demand:
    """Postgres connections of one process of ``workers`` forking workers (module docstring)."""
    c, extra = workers, 1 if unsafe else 0
    why = "a connection per running child" + (" + the parent's shared one (fork-unsafe)" if unsafe else "")
    return Demand(kind=TITLE, expected=c + extra, worst=c + extra,
                  formula=f"{'C + 1' if unsafe else 'C'} = {c + extra}: {why}")

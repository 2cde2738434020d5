"""Solid Queue (v1.x) on Postgres: the processes of one supervisor tree (``bin/jobs``, or ``plugin :solid_queue``).

From Solid Queue's source (github.com/rails/solid_queue, lib/solid_queue/configuration.rb, v1.5.0; measured facts
in DESIGN.md): connections held on the queue database (``SolidQueue::Record``), each capped by that pool's size::

    supervisor   2               its heartbeat and its maintenance (process pruning)
    dispatcher   3               polling (scheduled jobs), concurrency maintenance, heartbeat
    scheduler    1               recurring tasks (only when config/recurring.yml has some, or dynamic tasks are on)
    worker       threads + 2     a claim per job thread, its polling loop and heartbeat

plus, per worker, its jobs' connections on the databases they use: min(threads, pool) expected, the pool at worst
(as any Active Record pool). Defaults (``WORKER_DEFAULTS``, ``processes_config``): a worker of 3 threads x 1
process, 1 dispatcher; a worker's ``processes`` count only in fork mode (async: 1). A queue database that is the
primary (no ``queue`` database in database.yml): the worker's job threads and its polling share one pool.
"""

from __future__ import annotations

from harness.kinds.demand import Demand

SUPERVISOR = 2
DISPATCHER = 3
SCHEDULER = 1
WORKER_EXTRA = 2
DEFAULT_THREADS = 3
DEFAULT_PROCESSES = 1


def queue_connections(*, supervisors: int, dispatchers: int, schedulers: int, workers: list[tuple[int, int]],
                      pool: int) -> Demand:
    """Connections on the queue database of one tree; ``workers``: (processes, threads) per worker entry."""
    parts = []
    total = 0
    for what, count, each in (("supervisor", supervisors, SUPERVISOR), ("dispatcher", dispatchers, DISPATCHER),
                              ("scheduler", schedulers, SCHEDULER)):
        if count:
            held = min(each, pool)
            total += count * held
            parts.append(f"{count} {what} x {held}")
    for processes, threads in workers:
        held = min(threads + WORKER_EXTRA, pool)
        total += processes * held
        parts.append(f"{processes} worker x min({threads} threads + 2, pool {pool}) = {processes * held}")
    return Demand(expected=total, worst=total, formula=" + ".join(parts) + f" = {total}")


def job_connections(*, workers: list[tuple[int, int]], pool: int) -> Demand:
    """The workers' jobs on a database they use (the primary, a Solid Cache database): as an Active Record pool."""
    expected = sum(p * min(t, pool) for p, t in workers)
    worst = sum(p * pool for p, _ in workers)
    formula = " + ".join(f"{p} x min({t} threads, pool {pool})" for p, t in workers)
    return Demand(expected=expected, worst=worst, formula=f"{formula} = {expected} .. {worst} (every pool full)")

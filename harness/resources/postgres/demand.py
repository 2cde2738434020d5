"""Postgres' share of a plan: the connections of every process group, by the kinds' formulas (``harness.kinds``).

Per group (T = threads, S = pool, P = processes per dyno, C = a worker's concurrency)::

    web.i     P x the web's kind, per process:
                  Rails (Puma; Unicorn with T = 1)    activerecord.pool_postgres        min(T, S) .. S
                  Rails >= 7.2 / the twin, work_ms    per_query.pool_postgres           a bound, .. S
                  the twin (gunicorn, SQLAlchemy)     sqlalchemy.pool_postgres          min(T, S) .. S
                  the twin, ``orm: django``           django.connections_postgres / pool_postgres
              a preloaded fork-unsafe master, per dyno: activerecord / sqlalchemy.preloaded_unsafe_postgres
              no request queries (db_share = 0): expected 0 (every pool connects lazily), the worst case stays
    worker.i  the worker's kind: Sidekiq (sidekiq.server_postgres), dramatiq (dramatiq.worker_postgres),
              Resque-style (resque.worker_postgres), RQ (rq.worker_postgres); no jobs (enqueue_share = 0):
              expected 0
    extra     expected = worst = count x connections x overlapping bursts (rake tasks, consoles; a burst
              repeated every_s overlaps the next ones while it holds: the most bursts holding at one instant)

The formulas and the measurements behind them are in the kinds' docstrings.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.kinds import Demand, activerecord, django, dramatiq, per_query, resque, rq, sidekiq, sqlalchemy
from harness.kinds.demand import counted
from harness.kinds.workers import worker_kind
from harness.plan import Plan
from harness.prediction import GroupPrediction
from harness.versions import checkout


def web_process(plan: Plan, versions: Mapping[str, str]) -> Demand:
    """One web process's Postgres connections, by the web's kind, before the traffic's share of /db."""
    web, traffic = plan.web, plan.traffic
    if plan.orm.name == "django":
        pool = plan.orm.pool
        if pool is None:
            return django.connections_postgres(threads=web.threads, conn_max_age=plan.orm.conn_max_age)
        return django.pool_postgres(threads=web.threads, min_size=pool.min_size, max_size=pool.max_size)
    if checkout(plan.app, versions) == "query" and traffic.work_ms > 0:
        return per_query.pool_postgres(threads=web.threads, pool=web.pool, query_ms=traffic.query_ms,
                                       work_ms=traffic.work_ms)
    if plan.app == "rails":
        return activerecord.pool_postgres(threads=web.threads, pool=web.pool)
    return sqlalchemy.pool_postgres(threads=web.threads, size=web.pool)


def web_dyno(plan: Plan, versions: Mapping[str, str]) -> Demand:
    """One web dyno's Postgres connections (module docstring)."""
    web = plan.web
    if web.fork_safety == "unsafe" and plan.orm.name != "django":
        if plan.app == "rails":
            return activerecord.preloaded_unsafe_postgres(processes=web.processes, pool=web.pool)
        return sqlalchemy.preloaded_unsafe_postgres(processes=web.processes, threads=web.threads, size=web.pool)
    each = web_process(plan, versions)
    queries = plan.traffic.db_share > 0
    head, _, why = each.formula.partition(": ")
    processes = counted(web.processes, "process", "processes")
    reason = why if queries else "no request queries"
    formula = f"{processes} x {f'({head})' if ' = ' in head else head}" + (f": {reason}" if reason else "")
    return Demand(expected=web.processes * each.expected if queries else 0, worst=web.processes * each.worst,
                  formula=formula)


def worker_process(plan: Plan) -> Demand:
    """One worker process's Postgres connections, by the worker's kind, with jobs to run."""
    worker = plan.worker
    assert worker is not None
    c, unsafe = worker.concurrency, worker.fork_safety == "unsafe"
    kind = worker_kind(app=plan.app, forking=worker.kind == "forking")
    if kind == "resque":
        return resque.worker_postgres(workers=c, unsafe=unsafe)
    if kind == "rq":
        return rq.worker_postgres(workers=c, unsafe=unsafe)
    if kind == "sidekiq":
        return sidekiq.server_postgres(concurrency=c, pool=worker.pool)
    return dramatiq.worker_postgres(threads=c, pool=worker.pool)


def _extras(plan: Plan) -> list[GroupPrediction]:
    by_group: dict[str, int] = {}
    for extra in plan.extras:
        starts = extra.start_times(plan.traffic.duration_s) or (extra.at_s,)
        overlapping = max(sum(1 for s in starts if s <= t < s + extra.hold_s) for t in starts)
        by_group[extra.group] = by_group.get(extra.group, 0) + extra.count * extra.connections * overlapping
    return [GroupPrediction(group=g, tier="extra", expected=n, worst_case=n) for g, n in by_group.items()]


def groups(plan: Plan, *, dynos: int, versions: Mapping[str, str]) -> list[GroupPrediction]:
    """Every group's Postgres connections with the web tier at ``dynos`` (module docstring)."""
    dyno = web_dyno(plan, versions)
    found = [GroupPrediction(group=f"web.{i}", tier="web", expected=dyno.expected, worst_case=dyno.worst,
                             formula=dyno.formula) for i in range(1, dynos + 1)]
    if plan.worker is not None:
        each = worker_process(plan)
        jobs = plan.traffic.enqueue_share > 0
        found += [GroupPrediction(group=f"worker.{i}", tier="worker", expected=each.expected if jobs else 0,
                                  worst_case=each.worst, formula=each.formula if jobs else f"{each.formula}: no jobs",
                                  kind=each.kind)
                  for i in range(1, plan.worker.processes + 1)]
    return found + _extras(plan)

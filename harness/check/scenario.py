"""The scenario that reproduces a checked plan on connlab's sample apps (``--write-scenario FILE``, ``--run``).

The web type becomes the web tier (at the top of the autoscale range when the
web type is the one scaled), the first worker type the worker tier (its dynos
x processes as worker processes, its threads as concurrency), each one-off type
an extra holding one connection for the whole traffic. A pool becomes the
sample app's pool: ActiveRecord's size, SQLAlchemy's size + overflow, a Django
per-thread pool its threads, a Django pool its max_size. The sample apps have
one database: the primary's pool is the one reproduced, and a plan with more
says so in the description. The traffic keeps every web thread busy (500 ms
queries, one and a half users per thread) so the peak reaches the expected
count; with a worker, a fifth of the requests enqueue jobs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from harness.check.command import CheckResult
from harness.check.model import Pool, ProcessType

TRAFFIC_S = 6
QUERY_MS = 500
USERS_PER_THREAD = 1.5


def _pool(process: ProcessType) -> int:
    if not process.pools:
        return process.threads.value
    pool: Pool = process.pools[0]
    if pool.kind == "sqlalchemy":
        return pool.size.value + (pool.overflow.value if pool.overflow is not None else 0)
    if pool.kind in ("django-per-thread", "django-per-request"):
        return process.threads.value
    return pool.size.value


def _dynos(result: CheckResult, process: ProcessType) -> int:
    swept = result.sweep
    if swept is not None and swept.process_type == process.name:
        return swept.points[-1].dynos
    return next((t.dynos for t in result.postgres.types if t.name == process.name), 0)


def scenario_for(result: CheckResult, *, name: str) -> dict[str, Any]:
    types = result.app.process_types
    web = next((p for p in types if p.role == "web"), None)
    if web is None:
        raise ValueError("no web process type to reproduce")
    worker = next((p for p in types if p.role == "worker" and _dynos(result, p) > 0), None)
    limits = result.options.limits
    dynos = max(1, _dynos(result, web))
    threads = dynos * web.processes.value * web.threads.value
    databases = sorted({pool.database for p in types for pool in p.pools})
    note = (f" The app has {len(databases)} databases ({', '.join(databases)}); the sample app reproduces the "
            "first one's pool." if len(databases) > 1 else "")
    document: dict[str, Any] = {
        "description": f"connlab check {result.app_dir.name}: its plan on the {_app(result)} sample app, "
                       f"{web.name} at {dynos} dynos.{note}",
        "app": _app(result),
        "postgres": {"max_connections": limits.postgres_max_connections or 100,
                     "superuser_reserved_connections": limits.postgres_reserved},
        "redis": {"maxclients": limits.redis_maxclients or 100},
        "tiers": {"web": {"dynos": dynos, "processes": web.processes.value, "threads": web.threads.value,
                          "pool": _pool(web)}},
        "traffic": {"query_ms": QUERY_MS,
                    "stages": [{"duration_s": TRAFFIC_S, "users": max(1, math.ceil(threads * USERS_PER_THREAD)),
                                "spawn_rate": 100}]},
    }
    if web.server == "unicorn" and _app(result) == "rails":  # the sample app runs Unicorn too
        document["tiers"]["web"]["server"] = "unicorn"
    if worker is not None:
        document["tiers"]["worker"] = {"processes": _dynos(result, worker) * worker.processes.value,
                                       "concurrency": worker.threads.value, "pool": _pool(worker)}
        if worker.server == "rq":  # a fork per job: the sample app's RQ worker
            document["tiers"]["worker"]["kind"] = "forking"
        document["traffic"].update({"enqueue_share": 0.2, "job_ms": 1000, "jobs_per_enqueue": 2})
    extras = [{"group": p.name, "count": _dynos(result, p), "at_s": 0, "hold_s": TRAFFIC_S,
               "connections": max(1, len([pool for pool in p.pools if not pool.server][:1]))}
              for p in types if p.role == "oneoff" and _dynos(result, p) > 0]
    if extras:
        document["extras"] = extras
    return document


def _app(result: CheckResult) -> str:
    return "rails" if result.app.framework == "rails" else "python"


def write_scenario(result: CheckResult, path: Path) -> Path:
    document = scenario_for(result, name=path.stem)
    header = f"# written by connlab check {result.app_dir}; run it with: connlab run {path}\n"
    path.write_text(header + yaml.safe_dump(document, sort_keys=False, width=100))
    return path

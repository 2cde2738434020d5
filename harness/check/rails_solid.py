"""Solid Queue's supervisor tree as connections (``bin/jobs``, or ``plugin :solid_queue`` in Puma), from queue.yml.

One tree per dyno: a supervisor, its dispatchers, a scheduler (when config/recurring.yml has tasks) and its
workers' processes (each ``processes`` x ``threads``), read by read_rails.rb's ``queue`` as Solid Queue's
Configuration reads them (v1.5.0). On the queue database each holds what ``harness.kinds.solid_queue`` says; the
workers' jobs hold their own on the primary (and a Solid Cache database). The tree is one ``ProcessType`` "process"
per dyno whose pools are ``held``: the tree's connections summed here (``Pool.size`` expected, ``overflow`` the
extra at worst). Under ``plugin :solid_queue`` (with ``SOLID_QUEUE_IN_PUMA`` or whatever condition the puma.rb
line has) the plugin forks the tree once from Puma's launcher, not per Puma worker: it runs beside the web's
processes, once per web dyno (``ProcessType.beside``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from harness.check.model import Pool, ProcessType, Setting, unknown
from harness.kinds import solid_queue as sq

Origin = Callable[[int, int | None], str]  # (value, line in queue.yml) -> its source


@dataclass(frozen=True, kw_only=True)
class Tree:
    dispatchers: int
    schedulers: int
    workers: tuple[tuple[Setting, Setting], ...]  # (processes, threads) per worker entry
    where: str


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def read_tree(result: Mapping[str, Any] | None, path: str, origin: Origin, env: Mapping[str, str], *,
              fix: tuple[str, str]) -> Tree:
    """The tree queue.yml (``result``: read_rails.rb's ``queue``) describes; sources by ``origin``. A queue.yml that
    raised is a tree of unknown workers, ``fix`` naming what supplies their (processes, threads)."""
    result = result or {}
    if result.get("error"):  # queue.yml raised: its workers are not known, not Solid Queue's defaults
        error = result["error"]
        at = f"{path}:{error['line']}" if error.get("line") else path
        why = f"{at} raised {error.get('class')}: workers not read"
        worker = (unknown(source=why, fix=fix[0]), unknown(source=why, fix=fix[1]))
        return Tree(dispatchers=1, schedulers=0, workers=(worker,), where=why)
    fork = (env.get("SOLID_QUEUE_SUPERVISOR_MODE") or "fork") == "fork"
    scheduler = 0 if result.get("skip_recurring") else int(bool(result.get("recurring") or result.get("dynamic_tasks")))
    if not result.get("found") or result.get("fallback"):
        why = f"no {path}" if not result.get("found") else f"{path} has no workers, dispatchers or scheduler"
        default = f"default (Solid Queue: {why})"
        worker = (Setting(value=sq.DEFAULT_PROCESSES, source=default),
                  Setting(value=sq.DEFAULT_THREADS, source=default))
        return Tree(dispatchers=1, schedulers=scheduler, workers=(worker,), where=default)
    workers = []
    for entry in result.get("workers", []):
        count = _int(entry.get("processes"))
        line = entry.get("processes_line")
        if not fork:
            processes = Setting(value=1, source="SOLID_QUEUE_SUPERVISOR_MODE async: 1 (processes ignored)")
        elif count is None:
            processes = Setting(value=sq.DEFAULT_PROCESSES, source="default (Solid Queue: 1 process)")
        else:
            processes = Setting(value=count, source=origin(count, line) if line else path)
        size = _int(entry.get("threads"))
        threads = Setting(value=size, source=origin(size, entry.get("threads_line"))) if size is not None \
            else Setting(value=sq.DEFAULT_THREADS, source="default (Solid Queue: 3 threads)")
        workers.append((processes, threads))
    return Tree(dispatchers=int(result.get("dispatchers") or 0), schedulers=scheduler, workers=tuple(workers),
                where=path)


def with_threads(tree: Tree, threads: Setting) -> Tree:
    """``--set TYPE.threads=N``: every worker's threads."""
    return replace(tree, workers=tuple((p, threads) for p, _ in tree.workers))


def describe(tree: Tree) -> str:
    parts = ["1 supervisor"]
    if tree.dispatchers:
        parts.append(f"{tree.dispatchers} dispatcher(s)")
    if tree.schedulers:
        parts.append("1 scheduler (config/recurring.yml)")
    parts += [f"{p.value} worker process(es) x {t.value} threads ({p.source}; {t.source})" for p, t in tree.workers]
    return "Solid Queue: 1 supervisor tree per dyno: " + " + ".join(parts)


def tree_pools(tree: Tree, pools: tuple[Pool, ...], *, supervisors: int = 1) -> tuple[Pool, ...]:
    """The tree's connections per database, from the type's own pools (their sizes: database.yml for this type)."""
    shape = [(p.value, t.value) for p, t in tree.workers]
    queue = next((p for p in pools if p.database == "queue"), None)
    out = []
    for pool in pools:
        size = pool.size.value
        if pool.database == "queue" or (queue is None and pool.database == "primary"):
            held = sq.queue_connections(supervisors=supervisors, dispatchers=tree.dispatchers,
                                        schedulers=tree.schedulers, workers=shape, pool=size)
            shared = "" if queue is not None else "; no queue database: Solid Queue on the primary, its jobs sharing " \
                                                  "each worker's pool"
            out.append(replace(pool, kind="held", size=Setting(value=held.expected, source=(
                f"queue: {held.formula} (pool {size}: {pool.size.source}){shared}"), missing=pool.size.missing),
                overflow=Setting(value=0, source="held: as many at worst")))
        else:  # the primary, and Solid Cache's / Solid Cable's database where the app uses them
            jobs = sq.job_connections(workers=shape, pool=size)
            out.append(replace(pool, kind="held", size=Setting(
                value=jobs.expected, source=f"the workers' jobs: {jobs.formula} (pool {size}: {pool.size.source})",
                missing=pool.size.missing), overflow=Setting(value=jobs.worst - jobs.expected,
                                                             source="every job pool full")))
    return tuple(out)


def tree_type(process: ProcessType, tree: Tree, *, name: str | None = None) -> ProcessType:
    """``process`` (its pools read for its env) as one tree per dyno."""
    threads = max((t for _, t in tree.workers), key=lambda s: s.value, default=Setting(value=1, source="no workers"))
    missing = next((s.missing for pair in tree.workers for s in pair if s.missing), "")
    return replace(process, name=name or process.name, server="solid_queue", role="worker",
                   processes=Setting(value=1, source=describe(tree), missing=missing),
                   threads=threads, pools=tree_pools(tree, process.pools), redis=())


def advice(process: ProcessType, tree: Tree) -> list[str]:
    """A queue pool below a worker's threads + 2 (one RAILS_MAX_THREADS for Puma and Solid Queue): Solid Queue warns
    at boot (Configuration#warn_about_incorrectly_sized_thread_pool) and its threads wait."""
    queue = next((p for p in process.pools if p.database == "queue"), None) or \
        next((p for p in process.pools if p.database == "primary"), None)
    if queue is None or queue.size.missing:
        return []
    lines = []
    for _, threads in tree.workers:
        need = threads.value + sq.WORKER_EXTRA
        if queue.size.value < need:
            lines.append(f"{process.name} (Solid Queue, {queue.database}): pool {queue.size.value} "
                         f"({queue.size.source}) < {threads.value} worker threads + 2 (polling, heartbeat) = {need}: "
                         f"the worker's threads wait for a connection; give the {queue.database} database pool {need} "
                         "(a RAILS_MAX_THREADS shared with Puma sizes it for Puma's threads)")
            break
    return lines

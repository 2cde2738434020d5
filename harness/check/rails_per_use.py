"""Each Rails process type as its process uses the app's services: the databases it connects to, the Solid Queue
tree it runs, and its Redis pools and clients. ``rails.read_rails`` calls ``complete`` once its types are read and
the ``--set`` flags applied.

- Databases by use: ``cache``, ``queue`` and ``cable`` (Rails 8's names) count only where the app uses them
  (``rails_uses.Uses.databases``: ``cache_store :solid_cache_store``, ``queue_adapter :solid_queue`` (the web
  enqueues too), cable.yml's ``solid_cable``); a Solid Queue tree always works on its queue database. Other names
  (a replica, an ``analytics`` database) count as before: connlab cannot tell. A release task (``db:prepare``)
  keeps every database.
- ``bin/jobs`` and ``plugin :solid_queue``: ``rails_solid``.
- Redis: ``rails_redis``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.check.model import ProcessType, RedisUse
from harness.check.rails_redis import cable_use, cache_use, redis_uses
from harness.check.rails_solid import Tree, advice, read_tree, tree_type, with_threads
from harness.check.rails_uses import Uses, read_uses
from harness.versions import major_minor

PER_USE = ("cache", "queue", "cable")
Origin = Callable[[int, int | None], str]


@dataclass(frozen=True, kw_only=True)
class TypeFacts:
    """What ``complete`` needs of one process type beyond its ``ProcessType``."""

    env: Mapping[str, str]
    server_result: Mapping[str, Any] | None  # read_rails.rb's result for its server's config (puma, queue ...)
    queue_result: Mapping[str, Any] | None  # config/queue.yml for this type's env (bin/jobs, or a web's plugin)
    queue_path: str
    origin: Origin  # a value read on a queue.yml line -> its source


def _by_use(process: ProcessType, used: Mapping[str, str], keep: tuple[str, ...] = ()) -> ProcessType:
    if process.role == "release":
        return process
    kept = [p for p in process.pools if p.database not in PER_USE or p.database in used or p.database in keep]
    dropped = [p.database for p in process.pools if p not in kept]
    if dropped and kept:
        first = kept[0]
        note = f"; not used by {process.name}, not counted: {', '.join(dropped)}"
        kept[0] = replace(first, size=replace(first.size, source=first.size.source + note))
    return replace(process, pools=tuple(kept))


def _plugin_line(result: Mapping[str, Any] | None) -> str | None:
    for event in (result or {}).get("events", []):
        if event.get("kind") == "dsl" and event.get("name") == "plugin" and event.get("value") == "solid_queue":
            return f"{event['path']}:{event['line']}"
    return None


def _tree_redis(process: ProcessType, tree: Tree, uses: Uses, flag: int | None,
                cable_flag: int | None) -> tuple[RedisUse, ...]:
    """Redis of a tree: each worker process's cache pool (its threads), a broadcast client per worker process."""
    out = []
    owner = process.name.split("/")[0]  # web/solid_queue: the web's --set flags
    parts = [cache_use(owner, t.value, uses, flag, processes=p.value) for p, t in tree.workers]
    found = [u for u in parts if u is not None]
    if found:
        out.append(replace(found[0], expected=replace(found[0].expected, value=sum(u.expected.value for u in found)),
                           worst=replace(found[0].worst, value=sum(u.worst.value for u in found))))
    on_cable = cable_use(owner, False, uses, cable_flag, processes=sum(p.value for p, _ in tree.workers))
    if on_cable is not None:
        out.append(on_cable)
    return tuple(out)


def complete(app_dir: Path, types: list[ProcessType], facts: Mapping[str, TypeFacts], versions: Mapping[str, str],
             base_env: Mapping[str, str], flags: Mapping[str, int]) -> tuple[list[ProcessType], list[str]]:
    """The types with their databases by use, Solid Queue trees and Redis uses; and the advice on them."""
    uses = read_uses(app_dir, dict(base_env), major_minor(versions.get("rails")))
    used = uses.databases()
    out, notes = [], []
    for process in types:
        fact = facts[process.name]
        cache_flag = flags.get(f"{process.name}.cache_pool")
        cable_flag = flags.get(f"{process.name}.cable_redis")
        if process.server == "solid_queue":
            tree = read_tree(fact.queue_result, fact.queue_path, fact.origin, fact.env,
                             fix=(f"--set {process.name}.processes=N", f"--set {process.name}.threads=N"))
            if f"{process.name}.threads" in flags:
                tree = with_threads(tree, process.threads)
            filtered = _by_use(process, used, keep=("queue",))
            notes += advice(filtered, tree)
            built = tree_type(filtered, tree)
            if f"{process.name}.processes" in flags:
                built = replace(built, processes=process.processes)
            out.append(replace(built, redis=_tree_redis(built, tree, uses, cache_flag, cable_flag)))
            continue
        plugin = _plugin_line(fact.server_result) if process.role == "web" else None
        filtered = _by_use(process, used)
        filtered = replace(filtered, redis=redis_uses(filtered, uses, versions, fact.env, cache_flag, cable_flag))
        if plugin is not None:
            needs = f"{fact.queue_path} to evaluate (the --env it reads): no flag sets a tree inside Puma"
            tree = read_tree(fact.queue_result, fact.queue_path, fact.origin, fact.env, fix=(needs, needs))
            inside = _by_use(process, used, keep=("queue",))
            notes += advice(inside, tree)
            beside = tree_type(inside, tree, name=f"{process.name}/solid_queue")
            beside = replace(beside, command=f"plugin :solid_queue ({plugin})",
                             processes=replace(beside.processes, source=beside.processes.source.replace(
                                 "per dyno", f"per {process.name} dyno (plugin :solid_queue, {plugin}: forked "
                                             "once by Puma's launcher, not per Puma worker)")))
            redis = _tree_redis(beside, tree, uses, cache_flag, cable_flag)
            filtered = replace(filtered, beside=(replace(beside, redis=redis),))
        out.append(filtered)
    return out, notes


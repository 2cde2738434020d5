"""``--set TYPE.FIELD=N`` over what a Rails app's files say (``harness.check.rails``): processes, threads (Sidekiq:
its Redis too), pool; ``cache_pool`` and ``cable_redis`` are read where the Redis uses are built (``rails_per_use``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from harness.check.model import Pool, Problem, ProcessType, Setting
from harness.check.rails_redis import sidekiq_server

FLAG_FIELDS = ("processes", "threads", "pool", "cache_pool", "cable_redis")  # cache_pool: redis_cache_store's pool (0:
# none); cable_redis: ActionCable's Redis connections per process (0: not Redis)


def apply_flags(types: list[ProcessType], flags: Mapping[str, int], problems: list[Problem],
                 versions: Mapping[str, str]) -> list[ProcessType]:
    """``--set TYPE.FIELD=N`` over what the files say: processes, threads (Sidekiq: its Redis too), pool."""
    by_name = {t.name: t for t in types}
    for flag, value in flags.items():
        name, _, field = flag.rpartition(".")
        source = f"flag --set {flag}"
        least = 0 if field in ("processes", "cache_pool", "cable_redis") else 1
        if name not in by_name or field not in FLAG_FIELDS or value < least:
            have = ", ".join(by_name)
            what = (f"no process type {name!r} in the Procfile (has {have})" if name not in by_name else
                    f"{field!r} is not one of {', '.join(FLAG_FIELDS)}" if field not in FLAG_FIELDS else
                    f"{value} is too small")
            problems.append(Problem(path=f"--set {flag}", what=what,
                                    fix="--set TYPE.processes|threads|pool|cache_pool|cable_redis=N"))
            continue
        current = by_name[name]
        setting = Setting(value=value, source=source)
        if field in ("cache_pool", "cable_redis"):
            continue  # Rails.cache's Redis pool, ActionCable's: rails_per_use reads them where it builds the Redis uses
        if field == "processes":
            current = replace(current, processes=setting)
        elif field == "threads":
            current = replace(current, threads=setting)
            if current.server == "sidekiq" and current.redis:
                current = replace(current, redis=(sidekiq_server(value, versions),))
        else:
            pools = current.pools or (Pool(database="primary", kind="activerecord", size=setting),)
            current = replace(current, pools=tuple(replace(p, size=setting) for p in pools))
        by_name[name] = current
    return [by_name[t.name] for t in types]

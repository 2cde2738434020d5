"""Redis per Rails process type: one ``RedisUse`` per pool or client a process opens, by the formulas of
``harness.kinds`` (the ones ``connlab predict`` uses).

- Sidekiq server (``kinds.sidekiq.server_redis``): a ``sidekiq`` type, concurrency C.
- Sidekiq client (``kinds.sidekiq.client_redis``): a web process where Gemfile.lock has sidekiq; its pool is
  Sidekiq 7+'s internal pool (10), Sidekiq 6's RAILS_MAX_THREADS or 5.
- Rails.cache (``kinds.cache``): ``config.cache_store = :redis_cache_store`` (``rails_uses.cache_store``), in
  every process that loads the app: web, job workers, one-offs; pooled (min(T, size) at worst) or one client.
- ActionCable (``kinds.action_cable``): config/cable.yml's adapter ``redis``: a web process 1 .. 2, a job worker's
  broadcasts 0 .. 1; an adapter from ERB code: unknown until ``--set TYPE.cable_redis=N``.
- Resque / resque-pool workers (``kinds.resque.worker_redis``): 2 per worker process (1 with FORK_PER_JOB=false).

A release task runs during deploys only: no Redis figure. All of them count against the one ``--redis-maxclients``
given, whichever Redis server each URL names.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.check.model import ProcessType, RedisUse, Setting, unknown
from harness.check.rails_uses import Uses
from harness.check.rails_workers import fork_per_job
from harness.kinds import action_cable, cache, resque, sidekiq
from harness.kinds.demand import Demand
from harness.versions import sidekiq_major

CACHE = "Rails.cache (redis_cache_store)"


def _use(what: str, demand: Demand) -> RedisUse:
    return RedisUse(what=what, expected=Setting(value=demand.expected, source=demand.formula),
                    worst=Setting(value=demand.worst, source=demand.formula))


def _sidekiq_label(versions: Mapping[str, str]) -> tuple[int, str]:
    major = sidekiq_major(versions)
    return major, f"Sidekiq {major}" + ("" if "sidekiq" in versions else ", assumed: no version in Gemfile.lock")


def sidekiq_server(concurrency: int, versions: Mapping[str, str]) -> RedisUse:
    major, label = _sidekiq_label(versions)
    demand = sidekiq.server_redis(concurrency=concurrency, major=major)
    formula = demand.formula.replace(f"(Sidekiq {major})", f"({label})")
    return RedisUse(what="Sidekiq server", expected=Setting(value=demand.expected, source=formula),
                    worst=Setting(value=demand.worst, source=formula))


def cache_use(name: str, threads: int, uses: Uses, flag: int | None, *, processes: int = 1) -> RedisUse | None:
    """Rails.cache on Redis for ``processes`` processes of ``threads`` threads (``flag``: --set TYPE.cache_pool)."""
    store = uses.cache
    if store.store == "code":
        fix = f"--set {name}.cache_pool=N (0: no pool)"
        if flag is None:
            return RedisUse(what="Rails.cache (not read)", expected=Setting(value=0, source=f"{store.where}: code"),
                            worst=unknown(source=f"{store.where}: config.cache_store is code: not read", fix=fix))
    elif store.store != "redis_cache_store":
        return None
    if flag is not None:
        demand = cache.cache_redis(threads=threads, size=flag, what="cache pool") if flag else cache.unpooled_redis()
        source = f"flag --set {name}.cache_pool"
    elif not store.pooled:
        demand, source = cache.unpooled_redis(what="Redis client of Rails.cache"), store.where
    elif store.size is None or store.size.value is None:
        why = store.size.source if store.size is not None else store.where
        return RedisUse(what=CACHE, expected=Setting(value=processes, source=f"{why}: at least 1 per process"),
                        worst=unknown(source=f"{why}: the pool size is not read",
                                      fix=f"--set {name}.cache_pool=N (0: no pool)"))
    else:
        demand = cache.cache_redis(threads=threads, size=store.size.value, what="cache pool")
        source = store.size.source
    how = f"{demand.formula}; {source}"
    return RedisUse(what=CACHE, expected=Setting(value=processes * demand.expected, source=how),
                    worst=Setting(value=processes * demand.worst, source=how))


def redis_uses(process: ProcessType, uses: Uses, versions: Mapping[str, str], env: Mapping[str, str],
               cache_flag: int | None, cable_flag: int | None = None) -> tuple[RedisUse, ...]:
    """Every Redis pool or client one process of ``process`` opens (module docstring)."""
    if process.role == "release":
        return ()
    out: list[RedisUse] = []
    threads = process.threads.value
    if process.server == "sidekiq":
        out.append(sidekiq_server(threads, versions))
    if process.server in ("resque", "resque_pool"):
        out.append(_use("Resque worker", resque.worker_redis(workers=1, fork_per_job=fork_per_job(env))))
    on_cache = cache_use(process.name, 1 if process.role == "oneoff" else threads, uses, cache_flag)
    if on_cache is not None:
        out.append(on_cache)
    if process.role == "web" and "sidekiq" in versions:
        major, label = _sidekiq_label(versions)
        raw = env.get("RAILS_MAX_THREADS", "").strip()
        size = sidekiq.client_pool_size(major=major, rails_max_threads=int(raw) if raw.isdigit() else None)
        demand = sidekiq.client_redis(threads=threads, pool_size=size)
        why = "the internal pool" if major >= 7 else ("RAILS_MAX_THREADS" if raw.isdigit() else "default 5")
        out.append(_use("Sidekiq client", Demand(expected=demand.expected, worst=demand.worst,
                                                 formula=f"{demand.formula} ({label}: {why})")))
    if process.role in ("web", "worker"):
        on_cable = cable_use(process.name, process.role == "web", uses, cable_flag)
        if on_cable is not None:
            out.append(on_cable)
    return tuple(out)


def cable_use(name: str, web: bool, uses: Uses, flag: int | None, *, processes: int = 1) -> RedisUse | None:
    """ActionCable's redis adapter for ``processes`` processes: a web's listener and broadcast client, a job
    process's broadcast client; an adapter from code is unknown until ``--set TYPE.cable_redis=N`` (N per process,
    0: not Redis), which also wins over a redis adapter read."""
    if flag is not None:
        source = f"flag --set {name}.cable_redis"
        return RedisUse(what="ActionCable (redis)", expected=Setting(value=processes * flag, source=source),
                        worst=Setting(value=processes * flag, source=source)) if flag else None
    if uses.cable == "code":
        fix = f"--set {name}.cable_redis=N (0: not redis)"
        return RedisUse(what="ActionCable (not read)", expected=Setting(value=0, source=uses.cable_where),
                        worst=unknown(source=f"{uses.cable_where}: the adapter is not read", fix=fix))
    if uses.cable != "redis":
        return None
    demand = action_cable.web_redis() if web else action_cable.broadcaster_redis()
    source = f"{processes} process(es) x ({demand.formula}); {uses.cable_where}" if processes != 1 else \
        f"{demand.formula}; {uses.cable_where}"
    return RedisUse(what="ActionCable (redis)", expected=Setting(value=processes * demand.expected, source=source),
                    worst=Setting(value=processes * demand.worst, source=source))

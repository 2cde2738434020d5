"""What each process of a Python app holds on Redis, with the formulas of ``harness.kinds``.

Read from Django's settings (``django_settings``' ast reader, never imported) and the env given:

* **Celery**: the broker is ``CELERY_BROKER_URL`` (env, which wins, as Celery's ``Settings.broker_url`` reads it
  first), ``-b/--broker`` on the command line, else the settings' ``CELERY_BROKER_URL`` / ``BROKER_URL``; the result
  backend ``CELERY_RESULT_BACKEND`` (env, ``--result-backend``, settings ``CELERY_RESULT_BACKEND`` /
  ``RESULT_BACKEND``); ``CELERY_BROKER_POOL_LIMIT`` (default 10). ``redis://``, ``rediss://``, ``redis+socket://``
  are Redis. A worker: ``kinds.celery.child_redis`` per prefork child, and its main process as a row of its own
  beside it (``kinds.celery.main_redis``, measured: 10, fewer with ``--without-gossip/mingle/heartbeat``); a
  threaded pool (threads, gevent, eventlet) holds both in its one process. ``celery beat``:
  ``kinds.celery.beat_redis``. The web: ``kinds.celery.client_redis``.
  A Celery app whose broker is not read and that names the redis package is unknown:
  ``--env CELERY_BROKER_URL=redis://...`` (or ``amqp://...``: then nothing is counted on Redis).
* **RQ** (``rq worker``, ``rq worker-pool``, django-rq's ``manage.py rqworker``; ``RQ_QUEUES`` in settings): a
  worker ``kinds.rq.worker_redis(workers=1)`` per worker process; the web enqueues through one redis-py client
  (``kinds.redis_py.client_redis``).
* **dramatiq** (``dramatiq[redis]``, or ``DRAMATIQ_BROKER`` naming ``RedisBroker``): a worker
  ``kinds.dramatiq.worker_redis``; the web ``kinds.redis_py.client_redis``. dramatiq's default broker is RabbitMQ
  when pika is installed: without either sign, no Redis is counted for it.
* **Caches** (``CACHES`` not read, or an entry's BACKEND not read, in an app that has django-redis or redis:
  unknown until ``--set TYPE.cache_pool=N``, 0 when it is not Redis): ``CACHES`` entries whose BACKEND is
  ``django_redis.cache.RedisCache`` or Django's own ``django.core.cache.backends.redis.RedisCache``: a redis-py
  pool per process (``kinds.cache.cache_redis``, size ``OPTIONS["CONNECTION_POOL_KWARGS"]["max_connections"]``
  (django-redis) or ``OPTIONS["max_connections"]`` (Django's), else the threads: redis-py's pool is unbounded),
  in the web and every worker process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.check.django_db import DjangoApp
from harness.check.django_settings import Unknown
from harness.check.model import ProcessType, RedisUse, Setting, unknown
from harness.check.py_procfile import Command, options
from harness.check.pydeps import Deps
from harness.kinds import cache as cache_kind
from harness.kinds import celery as celery_kind
from harness.kinds import dramatiq as dramatiq_kind
from harness.kinds import redis_py
from harness.kinds import rq as rq_kind
from harness.kinds.demand import Demand

REDIS_CACHES = ("django_redis.cache.RedisCache", "django.core.cache.backends.redis.RedisCache")


def is_redis(url: str) -> bool:
    return url.split("://", 1)[0].lower() in ("redis", "rediss", "redis+socket", "unix", "sentinel")


@dataclass(frozen=True, kw_only=True)
class Url:
    """A broker or backend URL: ``redis`` True/False when known, None when not read (``why``, ``fix``)."""

    redis: bool | None
    where: str
    fix: str = ""


@dataclass
class Uses:
    """The Redis users of an app, read once."""

    celery: bool = False
    broker: Url | None = None
    backend: Url | None = None
    pool_limit: Setting = field(default_factory=lambda: Setting(value=celery_kind.BROKER_POOL_LIMIT,
                                                               source="default (Celery: broker_pool_limit 10)"))
    rq: str = ""  # where RQ was found (a process type, RQ_QUEUES, requirements)
    dramatiq: str = ""
    caches: list[tuple[str, str, int | None]] = field(default_factory=list)  # (alias, where, max_connections)
    #: caches whose BACKEND was not read in an app that has django-redis or redis: (what, where, why)
    unread_caches: list[tuple[str, str, str]] = field(default_factory=list)


def _setting(django: DjangoApp | None, *names: str) -> tuple[Any, str] | None:
    for name in names:
        found = django.setting(name) if django is not None else None
        if found is not None:
            return found[0], f"{found[1]} {name}"
    return None


def _url(env: Mapping[str, str], variable: str, cli: str | None, django: DjangoApp | None, names: tuple[str, ...],
         default: Url | None) -> Url | None:
    if env.get(variable):
        return Url(redis=is_redis(env[variable]), where=f"env {variable}")
    if cli is not None:
        return Url(redis=is_redis(cli), where="Procfile: --broker" if "BROKER" in variable else
                   "Procfile: --result-backend")
    found = _setting(django, *names)
    if found is None:
        return default
    value, where = found
    if isinstance(value, str):
        return Url(redis=is_redis(value), where=where)
    why = value.why.partition(": ")[2] if isinstance(value, Unknown) else "not a string"
    return Url(redis=None, where=f"{where} not read ({why})", fix=f"--env {variable}=redis://...")


def read_uses(django: DjangoApp | None, deps: Deps, env: Mapping[str, str], commands: list[Command],
              types: list[ProcessType]) -> Uses:
    uses = Uses()
    servers = {p.server for p in types}
    celery_cmd = next((c for c in commands if c.program == "celery"), None)
    uses.celery = "celery" in servers or deps.has("celery") is not None
    if uses.celery:
        cli = options(celery_cmd.args, {"-b": "b", "--broker": "b", "--result-backend": "r"}) if celery_cmd else {}
        unread = None
        if deps.has("redis") is not None or "redis" in deps.extras.get("celery", set()):
            unread = Url(redis=None, where="Celery's broker not read (not in Django's settings or the env given)",
                         fix="--env CELERY_BROKER_URL=redis://... (or amqp://... when it is not Redis)")
        uses.broker = _url(env, "CELERY_BROKER_URL", cli["b"][1] if "b" in cli else None, django,
                           ("CELERY_BROKER_URL", "BROKER_URL"), unread)
        uses.backend = _url(env, "CELERY_RESULT_BACKEND", cli["r"][1] if "r" in cli else None, django,
                            ("CELERY_RESULT_BACKEND", "RESULT_BACKEND"), None)
        limit = _setting(django, "CELERY_BROKER_POOL_LIMIT", "BROKER_POOL_LIMIT")
        if limit is not None and isinstance(limit[0], int) and not isinstance(limit[0], bool) and limit[0] > 0:
            uses.pool_limit = Setting(value=limit[0], source=limit[1])
    queues = _setting(django, "RQ_QUEUES")
    rq_type = next((p.name for p in types if p.server == "rq"), None)
    rq_at = next((c.called for c in commands if c.name == rq_type), f"Procfile {rq_type}")  # its launcher's line
    uses.rq = rq_at if rq_type else queues[1] if queues else deps.has("rq", "django-rq") or ""
    broker = _setting(django, "DRAMATIQ_BROKER")
    named = broker is not None and "RedisBroker" in str(broker[0].get("BROKER", "")
                                                        if isinstance(broker[0], dict) else broker[0])
    if named or "redis" in deps.extras.get("dramatiq", set()):
        uses.dramatiq = broker[1] if named and broker else f"{deps.has('dramatiq')} dramatiq[redis]"
    caches = _setting(django, "CACHES")
    redis_lib = deps.has("django-redis", "redis")
    if caches is not None and isinstance(caches[0], Unknown) and redis_lib is not None:
        uses.unread_caches.append(("CACHES", caches[1], caches[0].why.partition(": ")[2] or caches[0].why))
    if caches is not None and isinstance(caches[0], dict):
        lines = getattr(caches[0], "lines", {})
        for alias, entry in caches[0].items():
            backend = entry.get("BACKEND") if isinstance(entry, dict) else entry
            if isinstance(backend, Unknown) and redis_lib is not None:
                uses.unread_caches.append((f"CACHES[{alias!r}]", lines.get(alias, caches[1]),
                                           backend.why.partition(": ")[2] or backend.why))
            if not isinstance(entry, dict) or entry.get("BACKEND") not in REDIS_CACHES:
                continue
            opts = entry.get("OPTIONS", {})
            opts = opts if isinstance(opts, dict) else {}
            kwargs = opts.get("CONNECTION_POOL_KWARGS", {})
            size = (kwargs if isinstance(kwargs, dict) else {}).get("max_connections", opts.get("max_connections"))
            what = "django-redis" if entry["BACKEND"].startswith("django_redis") else "Django RedisCache"
            uses.caches.append((f"{what} '{alias}'", lines.get(alias, caches[1]),
                                size if isinstance(size, int) and not isinstance(size, bool) else None))
    return uses


def _use(what: str, demand: Demand, where: str) -> RedisUse:
    source = f"{demand.formula} ({where})" if where else demand.formula
    return RedisUse(what=what, expected=Setting(value=demand.expected, source=source),
                    worst=Setting(value=demand.worst, source=source))


def _unknown(what: str, url: Url) -> RedisUse:
    missing = unknown(source=url.where, fix=url.fix)
    return RedisUse(what=what, expected=missing, worst=missing)


def redis_for(process: ProcessType, uses: Uses,
              flags: Mapping[str, int] | None = None) -> tuple[tuple[RedisUse, ...], tuple[ProcessType, ...]]:
    """The Redis uses of each process of ``process``, and the rows beside it (a Celery worker's main process).
    ``flags``: ``--set TYPE.cache_pool=N`` gives a cache's connections per process where CACHES was not read."""
    found: list[RedisUse] = []
    beside: list[ProcessType] = []
    threads = process.threads.value
    backend = uses.backend is not None and uses.backend.redis is True
    broker = uses.broker
    if process.server == "celery" and broker is not None and broker.redis is not False:
        if broker.redis is None:
            found.append(_unknown("Celery broker", broker))
        elif process.role == "oneoff":
            found.append(_use("celery beat", celery_kind.beat_redis(), broker.where))
        else:
            prefork = process.threads.source.startswith("celery prefork")
            without = frozenset(x for x in ("gossip", "mingle", "heartbeat") if f"--without-{x}" in process.command)
            main = _use("Celery worker main process", celery_kind.main_redis(without), broker.where)
            child = celery_kind.child_redis(result_backend=backend, threads=1 if prefork else threads)
            found.append(_use("Celery child" if prefork else "Celery pool", child,
                              uses.backend.where if backend and uses.backend else ""))
            if prefork:
                beside.append(ProcessType(name=f"{process.name} (celery main)", command=process.command, role="worker",
                                          server="celery", processes=Setting(value=1, source="celery: the main "
                                                                             "process, 1 per worker"),
                                          threads=Setting(value=1, source="celery: the consumer"), redis=(main,)))
            else:
                found.insert(0, main)
    if process.server == "rq" and process.role == "worker":
        found.append(_use("RQ worker", rq_kind.worker_redis(workers=1), uses.rq))
    if process.server == "dramatiq" and process.role == "worker" and uses.dramatiq:
        found.append(_use("dramatiq", dramatiq_kind.worker_redis(threads=threads), uses.dramatiq))
    if process.role == "web":
        if broker is not None and broker.redis is None:
            found.append(_unknown("Celery client", broker))
        elif broker is not None and broker.redis:
            found.append(_use("Celery client", celery_kind.client_redis(
                threads=threads, pool_limit=uses.pool_limit.value, result_backend=backend),
                f"{broker.where}; {uses.pool_limit.source}"))
        if uses.rq:
            found.append(_use("RQ enqueue", redis_py.client_redis(threads=threads), uses.rq))
        if uses.dramatiq:
            found.append(_use("dramatiq enqueue", redis_py.client_redis(threads=threads), uses.dramatiq))
    if process.role in ("web", "worker"):
        key = f"{process.name}.cache_pool"
        for what, where, why in uses.unread_caches:
            if flags is not None and key in flags:
                if flags[key]:
                    given = Setting(value=flags[key], source=f"flag --set {key}")
                    found.append(RedisUse(what=f"Django cache ({what} not read)", expected=given, worst=given))
                continue
            missing = unknown(source=f"{where}: {what} not read ({why}), and the app has django-redis or redis",
                              fix=f"--set {key}=N (the cache's Redis connections per process; 0: not Redis)")
            found.append(RedisUse(what=f"Django cache ({what} not read)", expected=missing, worst=missing))
        for what, where, size in uses.caches:
            demand = cache_kind.cache_redis(threads=threads, size=size if size is not None else threads,
                                            what="pool max_connections" if size is not None else "pool (unbounded)")
            found.append(_use(what, demand, where))
    return tuple(found), tuple(beside)

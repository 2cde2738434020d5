"""Plan: a scenario file parsed into frozen objects, with every problem reported at once.

A scenario names the servers' limits, the app, its tiers of processes, one-off
extras, the traffic and what the run is expected to show. ``load_plan(path)``
returns a ``Plan`` or raises ``PlanError`` whose ``problems`` each name the file,
the field, what is allowed and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import PlanError
from harness.validate import Range, Reader

APPS = ("python", "rails")
ERROR_KINDS = ("pool_timeout", "server_full", "redis_full", "connection_lost", "other")
EVENT_ACTIONS = ("scale", "deploy", "kill_backends", "restart_postgres", "kill_redis_clients")
FORK_SAFETY = ("safe", "unsafe")
WORKER_KINDS = ("threaded", "forking")
#: the web server, per app: Puma or Unicorn for rails, gunicorn for python ("" = the app's default)
WEB_SERVERS = {"rails": ("puma", "unicorn"), "python": ("gunicorn",)}
ORMS = ("sqlalchemy", "django")


@dataclass(frozen=True, kw_only=True)
class PostgresLimits:
    max_connections: int
    superuser_reserved_connections: int = 3
    ssl: bool = False


@dataclass(frozen=True, kw_only=True)
class RedisLimits:
    maxclients: int


@dataclass(frozen=True, kw_only=True)
class WebTier:
    """``dynos`` independent web servers, each ``processes`` workers x ``threads`` threads."""

    dynos: int
    processes: int
    threads: int
    pool: int
    checkout_timeout_s: float = 5.0
    fork_safety: str = "safe"
    #: "" = the app's default (Puma, gunicorn); "unicorn" on rails: forked processes of one thread each
    server: str = ""


@dataclass(frozen=True, kw_only=True)
class DjangoPool:
    """Django 5.1+'s native psycopg pool (``OPTIONS: {"pool": {...}}``) in each process."""

    min_size: int
    max_size: int
    timeout_s: float = 30.0


@dataclass(frozen=True, kw_only=True)
class Orm:
    """The Python twin's database layer: SQLAlchemy's QueuePool (``pool`` of the tier), or Django's ORM with
    ``CONN_MAX_AGE`` (0: a connection per request, closed after it; > 0: one per thread, kept) or its native
    pool (then CONN_MAX_AGE must be 0)."""

    name: str = "sqlalchemy"
    conn_max_age: int = 0
    pool: DjangoPool | None = None


@dataclass(frozen=True, kw_only=True)
class WorkerTier:
    """``processes`` job-worker processes, each running ``concurrency`` jobs at once.

    ``threaded`` runs jobs on threads (Sidekiq, dramatiq); ``forking`` forks a
    process per job (RQ for the twin; a Resque-style worker for Rails, lib/connlab_resque.rb).
    """

    processes: int
    concurrency: int
    pool: int
    checkout_timeout_s: float = 5.0
    kind: str = "threaded"
    fork_safety: str = "safe"


@dataclass(frozen=True, kw_only=True)
class Extra:
    """One-off processes (rake tasks, consoles) started at ``at_s`` holding connections ``hold_s``.

    With ``every_s`` the burst repeats, as a cron entry would, until the traffic ends.
    """

    group: str
    count: int
    at_s: float
    hold_s: float
    connections: int = 1
    every_s: float | None = None

    def start_times(self, duration_s: float) -> tuple[float, ...]:
        """When each burst starts, within a traffic of ``duration_s``."""
        if self.every_s is None:
            return (self.at_s,)
        times, t = [], self.at_s
        while t < duration_s:
            times.append(t)
            t += self.every_s
        return tuple(times)


@dataclass(frozen=True, kw_only=True)
class Stage:
    """``users`` users for ``duration_s`` seconds, started at ``spawn_rate`` users a second."""

    duration_s: float
    users: int
    spawn_rate: float


@dataclass(frozen=True, kw_only=True)
class Traffic:
    """What each user request does: ``GET /enqueue`` (``enqueue_share`` of them), ``GET /cache``
    (``cache_share``: a cache read holding its Redis connection ``redis_ms``), else ``GET /db``
    (a query of ``query_ms``, then work that touches no database, ``work_ms`` on average, drawn from 0 to
    2 x ``work_ms``: rendering, an HTTP call; whether the connection stays checked out during it is the
    Rails version's). Each job holds
    Postgres ``job_ms`` and, when ``job_redis_ms`` > 0, first reads the cache holding its Redis
    connection that long."""

    query_ms: int
    stages: tuple[Stage, ...]
    enqueue_share: float = 0.0
    job_ms: int = 500
    jobs_per_enqueue: int = 1
    cache_share: float = 0.0
    redis_ms: int = 100
    job_redis_ms: int = 0
    work_ms: int = 0

    @property
    def db_share(self) -> float:
        """The share of requests that are ``GET /db``."""
        return max(0.0, round(1.0 - self.enqueue_share - self.cache_share, 9))

    @property
    def duration_s(self) -> float:
        return sum(stage.duration_s for stage in self.stages)

    @property
    def max_users(self) -> int:
        return max(stage.users for stage in self.stages)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happens ``at_s`` seconds into the traffic.

    * ``scale``: the web tier goes to ``dynos`` dynos (the autoscaler);
    * ``deploy``: a preboot deploy: a new set of web dynos starts, takes the
      traffic, and the old set stops ``overlap_s`` later;
    * ``kill_backends``: pg_terminate_backend for the connections whose
      application_name starts with ``group`` (every app connection when empty);
    * ``restart_postgres``: a fast shutdown and start of Postgres;
    * ``kill_redis_clients``: CLIENT KILL for the Redis clients named ``group*``.
    """

    at_s: float
    action: str
    dynos: int = 0
    overlap_s: float = 0.0
    group: str = ""


@dataclass(frozen=True, kw_only=True)
class ResourceExpectation:
    peak: Range | None = None
    rejected: Range | None = None
    exhausted: bool | None = None
    groups: dict[str, Range] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Expectations:
    postgres: ResourceExpectation = field(default_factory=ResourceExpectation)
    redis: ResourceExpectation = field(default_factory=ResourceExpectation)
    errors: dict[str, Range] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Plan:
    name: str
    path: Path
    description: str
    app: str
    postgres: PostgresLimits
    redis: RedisLimits
    web: WebTier
    worker: WorkerTier | None
    extras: tuple[Extra, ...]
    traffic: Traffic
    events: tuple[Event, ...]
    expect: Expectations
    orm: Orm = Orm()


def _web(r: Reader, raw: Any) -> WebTier:
    data = r.mapping(raw, "tiers.web", ("dynos", "processes", "threads", "pool", "checkout_timeout_s",
                                        "fork_safety", "server"))
    if raw is None:
        r.problem("tiers.web", "is required: dynos, processes, threads, pool")
    return WebTier(
        dynos=r.integer(data, "dynos", "tiers.web", minimum=1, default=1),
        processes=r.integer(data, "processes", "tiers.web", minimum=1),
        threads=r.integer(data, "threads", "tiers.web", minimum=1),
        pool=r.integer(data, "pool", "tiers.web", minimum=1),
        checkout_timeout_s=r.number(data, "checkout_timeout_s", "tiers.web", minimum=0,
                                    default=5.0, exclusive_min=True),
        fork_safety=r.text(data, "fork_safety", "tiers.web", choices=FORK_SAFETY, default="safe"),
        server="" if data.get("server") is None else r.text(data, "server", "tiers.web",
                                                             choices=("puma", "unicorn", "gunicorn")),
    )


def _orm(r: Reader, raw: Any) -> Orm:
    """``orm: django`` (or sqlalchemy) with ``django: {conn_max_age: N, pool: {min_size, max_size, timeout_s}}``."""
    name = raw.get("orm", "sqlalchemy")
    if name not in ORMS:
        r.problem("orm", f"must be one of {', '.join(ORMS)}, got {name!r}")
        return Orm()
    settings = r.mapping(raw.get("django"), "django", ("conn_max_age", "pool"))
    pool = None
    if settings.get("pool") is not None:
        raw_pool = r.mapping(settings.get("pool"), "django.pool", ("min_size", "max_size", "timeout_s"))
        pool = DjangoPool(
            min_size=r.integer(raw_pool, "min_size", "django.pool", minimum=0, default=0),
            max_size=r.integer(raw_pool, "max_size", "django.pool", minimum=1),
            timeout_s=r.number(raw_pool, "timeout_s", "django.pool", minimum=0, exclusive_min=True, default=30.0),
        )
    orm = Orm(name=name, conn_max_age=r.integer(settings, "conn_max_age", "django", minimum=0, default=0), pool=pool)
    if name != "django" and raw.get("django") is not None:
        r.problem("django", "applies with orm: django only")
    if pool is not None and orm.conn_max_age != 0:
        r.problem("django.conn_max_age", "must be 0 with django.pool (Django refuses persistent connections "
                  "with its pool)")
    if pool is not None and pool.min_size > pool.max_size:
        r.problem("django.pool.min_size", f"must be at most max_size ({pool.max_size})")
    return orm


def _worker(r: Reader, raw: Any) -> WorkerTier | None:
    if raw is None:
        return None
    data = r.mapping(raw, "tiers.worker", ("processes", "concurrency", "pool", "checkout_timeout_s", "kind",
                                           "fork_safety"))
    return WorkerTier(
        processes=r.integer(data, "processes", "tiers.worker", minimum=1, default=1),
        concurrency=r.integer(data, "concurrency", "tiers.worker", minimum=1),
        pool=r.integer(data, "pool", "tiers.worker", minimum=1),
        checkout_timeout_s=r.number(data, "checkout_timeout_s", "tiers.worker", minimum=0,
                                    default=5.0, exclusive_min=True),
        kind=r.text(data, "kind", "tiers.worker", choices=WORKER_KINDS, default="threaded"),
        fork_safety=r.text(data, "fork_safety", "tiers.worker", choices=FORK_SAFETY, default="safe"),
    )


def _extras(r: Reader, raw: Any) -> tuple[Extra, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        r.problem("extras", "must be a list of {group, count, at_s, hold_s, connections, every_s}")
        return ()
    extras = []
    for i, item in enumerate(raw):
        where = f"extras[{i}]"
        data = r.mapping(item, where, ("group", "count", "at_s", "hold_s", "connections", "every_s"))
        group = r.text(data, "group", where)
        if group.startswith(("web", "worker", "connlab")):
            r.problem(f"{where}.group", f"{group!r} is taken by the harness; use a name like rake or console")
        extras.append(Extra(
            group=group,
            count=r.integer(data, "count", where, minimum=1, default=1),
            at_s=r.number(data, "at_s", where, minimum=0, default=0.0),
            hold_s=r.number(data, "hold_s", where, minimum=0, exclusive_min=True),
            connections=r.integer(data, "connections", where, minimum=1, default=1),
            every_s=r.number(data, "every_s", where, minimum=0, exclusive_min=True) if "every_s" in data else None,
        ))
    return tuple(extras)


def _traffic(r: Reader, raw: Any) -> Traffic:
    allowed = ("query_ms", "stages", "enqueue_share", "job_ms", "jobs_per_enqueue", "cache_share", "redis_ms",
               "job_redis_ms", "work_ms")
    data = r.mapping(raw, "traffic", allowed)
    stages_raw = data.get("stages")
    stages: list[Stage] = []
    if not isinstance(stages_raw, list) or not stages_raw:
        r.problem("traffic.stages", "must be a non-empty list of {duration_s, users, spawn_rate}")
    else:
        for i, item in enumerate(stages_raw):
            where = f"traffic.stages[{i}]"
            stage = r.mapping(item, where, ("duration_s", "users", "spawn_rate"))
            stages.append(Stage(
                duration_s=r.number(stage, "duration_s", where, minimum=0, exclusive_min=True),
                users=r.integer(stage, "users", where, minimum=0),
                spawn_rate=r.number(stage, "spawn_rate", where, minimum=0, exclusive_min=True,
                                    default=100.0),
            ))
    traffic = Traffic(
        query_ms=r.integer(data, "query_ms", "traffic", minimum=0),
        stages=tuple(stages),
        enqueue_share=r.number(data, "enqueue_share", "traffic", minimum=0, maximum=1, default=0.0),
        job_ms=r.integer(data, "job_ms", "traffic", minimum=0, default=500),
        jobs_per_enqueue=r.integer(data, "jobs_per_enqueue", "traffic", minimum=1, default=1),
        cache_share=r.number(data, "cache_share", "traffic", minimum=0, maximum=1, default=0.0),
        redis_ms=r.integer(data, "redis_ms", "traffic", minimum=0, default=100),
        job_redis_ms=r.integer(data, "job_redis_ms", "traffic", minimum=0, default=0),
        work_ms=r.integer(data, "work_ms", "traffic", minimum=0, default=0),
    )
    if traffic.enqueue_share + traffic.cache_share > 1 + 1e-9:
        r.problem("traffic.cache_share", f"enqueue_share + cache_share must be <= 1 (the rest are /db requests), "
                  f"got {traffic.enqueue_share:g} + {traffic.cache_share:g}")
    return traffic


_EVENT_FIELDS = {
    "scale": ("dynos",),
    "deploy": ("overlap_s",),
    "kill_backends": ("group",),
    "restart_postgres": (),
    "kill_redis_clients": ("group",),
}


def _events(r: Reader, raw: Any, duration_s: float) -> tuple[Event, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        r.problem("events", "must be a list of {at_s, action, ...}")
        return ()
    events = []
    for i, item in enumerate(raw):
        where = f"events[{i}]"
        known = len(r.problems)
        action = r.text(item if isinstance(item, dict) else {}, "action", where, choices=EVENT_ACTIONS)
        # an unknown action's own fields are not "unknown keys": the action is the one mistake
        fields = _EVENT_FIELDS[action] if len(r.problems) == known else tuple(item) if isinstance(item, dict) else ()
        data = r.mapping(item, where, ("at_s", "action", *fields))
        event = Event(
            at_s=r.number(data, "at_s", where, minimum=0),
            action=action,
            dynos=r.integer(data, "dynos", where, minimum=1) if action == "scale" else 0,
            overlap_s=r.number(data, "overlap_s", where, minimum=0, exclusive_min=True)
            if action == "deploy" else 0.0,
            group=str(data.get("group") or ""),
        )
        if duration_s and event.at_s + event.overlap_s >= duration_s:
            r.problem(f"{where}.at_s", f"must fall within the traffic ({duration_s:g} s), "
                      f"got {event.at_s + event.overlap_s:g}")
        events.append(event)
    return tuple(sorted(events, key=lambda e: e.at_s))


def _resource_expectation(r: Reader, raw: Any, where: str) -> ResourceExpectation:
    data = r.mapping(raw, where, ("peak", "rejected", "exhausted", "groups"))
    exhausted = data.get("exhausted")
    if exhausted is not None and not isinstance(exhausted, bool):
        r.problem(f"{where}.exhausted", f"must be true or false, got {exhausted!r}")
        exhausted = None
    groups_raw = r.mapping(data.get("groups"), f"{where}.groups", tuple(map(str, data.get("groups") or ())))
    groups = {str(k): rng for k, v in groups_raw.items()
              if (rng := r.range_(v, f"{where}.groups.{k}")) is not None}
    return ResourceExpectation(
        peak=r.range_(data["peak"], f"{where}.peak") if "peak" in data else None,
        rejected=r.range_(data["rejected"], f"{where}.rejected") if "rejected" in data else None,
        exhausted=exhausted,
        groups=groups,
    )


def _expect(r: Reader, raw: Any) -> Expectations:
    data = r.mapping(raw, "expect", ("postgres", "redis", "errors"))
    errors_raw = r.mapping(data.get("errors"), "expect.errors", ERROR_KINDS)
    errors = {k: rng for k, v in errors_raw.items()
              if k in ERROR_KINDS and (rng := r.range_(v, f"expect.errors.{k}")) is not None}
    return Expectations(
        postgres=_resource_expectation(r, data.get("postgres"), "expect.postgres"),
        redis=_resource_expectation(r, data.get("redis"), "expect.redis"),
        errors=errors,
    )


TOP_KEYS = ("name", "description", "app", "postgres", "redis", "tiers", "extras", "traffic",
            "events", "expect", "orm", "django")


def parse_plan(raw: Any, path: Path) -> Plan:
    """Build a ``Plan`` from parsed YAML, or raise ``PlanError`` listing every problem."""
    r = Reader(path)
    if not isinstance(raw, dict):
        raise PlanError([f"{path}: the file must hold a mapping with keys {', '.join(TOP_KEYS)}"])
    data = r.mapping(raw, "", TOP_KEYS)
    pg = r.mapping(data.get("postgres"), "postgres", ("max_connections", "superuser_reserved_connections", "ssl"))
    rd = r.mapping(data.get("redis"), "redis", ("maxclients",))
    tiers = r.mapping(data.get("tiers"), "tiers", ("web", "worker"))
    traffic = _traffic(r, data.get("traffic"))
    known = len(r.problems)
    postgres = PostgresLimits(
        max_connections=r.integer(pg, "max_connections", "postgres", minimum=2),
        superuser_reserved_connections=r.integer(pg, "superuser_reserved_connections", "postgres",
                                                 minimum=0, default=3),
        ssl=r.boolean(pg, "ssl", "postgres", default=False),
    )
    # compare the two only when both were read as given: a mistake in one is reported once, not twice
    if len(r.problems) == known and postgres.superuser_reserved_connections >= postgres.max_connections:
        r.problem("postgres.superuser_reserved_connections",
                  f"must be below max_connections ({postgres.max_connections})")
    description = data.get("description", "")
    if not isinstance(description, str):
        r.problem("description", "must be a string")
        description = ""
    plan = Plan(
        name=str(data.get("name") or path.stem),
        path=path,
        description=description.strip(),
        app=r.text(data, "app", "", choices=APPS),
        postgres=postgres,
        redis=RedisLimits(maxclients=r.integer(rd, "maxclients", "redis", minimum=2)),
        web=_web(r, tiers.get("web")),
        worker=_worker(r, tiers.get("worker")),
        extras=_extras(r, data.get("extras")),
        traffic=traffic,
        events=_events(r, data.get("events"), traffic.duration_s),
        expect=_expect(r, data.get("expect")),
        orm=_orm(r, data),
    )
    if plan.web.server and plan.app in WEB_SERVERS and plan.web.server not in WEB_SERVERS[plan.app]:
        r.problem("tiers.web.server", f"the {plan.app} app runs {' or '.join(WEB_SERVERS[plan.app])}, "
                  f"got {plan.web.server!r}")
    if plan.web.server == "unicorn" and plan.app == "rails" and plan.web.threads != 1:
        r.problem("tiers.web.threads", f"Unicorn runs one thread per process; set threads: 1 "
                  f"(got {plan.web.threads})")
    if plan.orm.name == "django" and plan.web.fork_safety == "unsafe":
        r.problem("tiers.web.fork_safety", "the Django twin has no fork-unsafe mode; use orm: sqlalchemy for it")
    if plan.orm.name == "django" and plan.app != "python":
        r.problem("orm", "django is the python app's; the rails app uses ActiveRecord")
    if plan.traffic.job_redis_ms > 0 and plan.traffic.enqueue_share == 0:
        r.problem("traffic.job_redis_ms", "jobs read the cache but no request enqueues any; set enqueue_share "
                  "above 0 or job_redis_ms to 0")
    if plan.traffic.enqueue_share > 0 and plan.worker is None:
        r.problem("traffic.enqueue_share", "enqueues jobs but tiers.worker is missing; add a worker tier "
                  "or set enqueue_share to 0")
    if r.problems:
        raise PlanError(r.problems)
    return plan


def load_plan(path: Path) -> Plan:
    """Read and validate a scenario file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PlanError([f"{path}: no such scenario file or shipped scenario; "
                         "`connlab scenarios` lists the shipped ones"]) from None
    except OSError as exc:
        raise PlanError([f"{path}: cannot read it ({exc.strerror})"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        raise PlanError([f"{path}: {where}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    return parse_plan(raw, path)

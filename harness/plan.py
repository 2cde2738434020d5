"""Plan: a scenario file parsed into frozen objects, with every problem reported at once.

A scenario names the servers' limits, the app, its tiers of processes, one-off
extras, the traffic and what the run is expected to show. ``load_plan(path)``
returns a ``Plan`` or raises ``PlanError`` whose ``problems`` each name the file,
the field, what is allowed and how to fix it.

The file is read by ``harness.scenario_file`` (bounded: size, aliases, depth,
duplicate keys). Every number is finite and bounded by what its field can mean
(the ``MAX_*`` constants below: a plan past them is a typo, and would swamp the
arithmetic's tables), and the names that become paths and log file names (the
scenario's ``name``, extras' ``group``) are identifiers (``harness.validate``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import PlanError
from harness.resources.limits import FAULTS, LIMITS, Limits
from harness.scenario_file import read_scenario
from harness.validate import IDENTIFIER_RULE, Range, Reader, is_identifier, shown

__all__ = ["APPS", "DjangoPool", "Event", "Expectations", "Extra", "Limits", "Orm", "Plan", "ResourceExpectation",
           "Stage", "Traffic", "WebTier", "WorkerTier", "load_plan", "parse_plan"]

APPS = ("python", "rails")
ERROR_KINDS = ("pool_timeout", *(kind.full_error for kind in LIMITS.values()), "connection_lost", "other")
#: the web tier's events, and the faults each server kind brings (``harness.resources.limits.FAULTS``)
TIER_EVENTS: dict[str, tuple[str, ...]] = {"scale": ("dynos",), "deploy": ("overlap_s",)}
_EVENT_FIELDS = {**TIER_EVENTS, **FAULTS}
EVENT_ACTIONS = tuple(_EVENT_FIELDS)
FORK_SAFETY = ("safe", "unsafe")
WORKER_KINDS = ("threaded", "forking")
#: the web server, per app: Puma or Unicorn for rails, gunicorn for python ("" = the app's default)
WEB_SERVERS = {"rails": ("puma", "unicorn"), "python": ("gunicorn",)}
ORMS = ("sqlalchemy", "django")

# What each number can mean: the upper bounds. The shipped scenarios stay far below them (3 dynos, 8 threads,
# 14 s stages); a plan past one is a typo or a hostile file. predict builds a row per dyno and worker process
# per topology (the initial one, one per scale event, two per deploy), so these also bound its tables: at
# every bound at once, 21 topologies of up to 300 groups, about 11,000 rows (the terminal table takes seconds).
#: web dynos, at the start or after a scale event (a deploy runs twice as many while it overlaps); Heroku's own
#: limit per process type
MAX_DYNOS = 100
#: web server processes (Puma / gunicorn / Unicorn workers) per dyno
MAX_PROCESSES = 128
#: threads per web process, jobs at once per worker process
MAX_THREADS = 1024
#: a pool's size (ActiveRecord, SQLAlchemy, Django's max_size)
MAX_POOL = 10_000
#: job-worker processes
MAX_WORKER_PROCESSES = 100
#: the whole traffic, and any time within it (a day: a soak test)
MAX_DURATION_S = 86_400.0
#: a query, a job, a cache read or the work beside a query, in ms (an hour)
MAX_MS = 3_600_000
#: a checkout or pool timeout
MAX_TIMEOUT_S = 3_600.0
#: Django's CONN_MAX_AGE, in s (a day)
MAX_CONN_MAX_AGE = 86_400
#: Locust users in one stage, and users started a second
MAX_USERS = 100_000
MAX_SPAWN_RATE = 10_000.0
#: traffic stages, events, extras, jobs per enqueue
MAX_STAGES = 100
MAX_EVENTS = 10
MAX_EXTRAS = 20
MAX_JOBS_PER_ENQUEUE = 1_000
#: one-off processes in one burst, connections each holds
MAX_ONEOFFS = 1_000
MAX_ONEOFF_CONNECTIONS = 100
#: bursts of one repeated extra (every_s) within the traffic (predict compares every pair of them)
MAX_BURSTS = 100


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
    * a server's fault (``harness.resources.limits.FAULTS``: each server kind's ``faults`` module says what it
      does), acting on the app connections whose name starts with ``group`` (every one when empty), where the
      fault takes a group.
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
    #: per server, by its name in ``harness.resources.limits.LIMITS``; a server the file does not name expects nothing
    resources: dict[str, ResourceExpectation] = field(default_factory=dict)
    errors: dict[str, Range] = field(default_factory=dict)

    def resource(self, name: str) -> ResourceExpectation:
        return self.resources.get(name, ResourceExpectation())


@dataclass(frozen=True, kw_only=True)
class Plan:
    name: str
    path: Path
    description: str
    app: str
    #: each server's limits, by its name (``harness.resources.limits.LIMITS``), in the registry's order
    limits: dict[str, Limits]
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
        dynos=r.integer(data, "dynos", "tiers.web", minimum=1, maximum=MAX_DYNOS, default=1),
        processes=r.integer(data, "processes", "tiers.web", minimum=1, maximum=MAX_PROCESSES),
        threads=r.integer(data, "threads", "tiers.web", minimum=1, maximum=MAX_THREADS),
        pool=r.integer(data, "pool", "tiers.web", minimum=1, maximum=MAX_POOL),
        checkout_timeout_s=r.number(data, "checkout_timeout_s", "tiers.web", minimum=0, maximum=MAX_TIMEOUT_S,
                                    default=5.0, exclusive_min=True),
        fork_safety=r.text(data, "fork_safety", "tiers.web", choices=FORK_SAFETY, default="safe"),
        server="" if data.get("server") is None else r.text(data, "server", "tiers.web",
                                                             choices=("puma", "unicorn", "gunicorn")),
    )


def _orm(r: Reader, raw: Any) -> Orm:
    """``orm: django`` (or sqlalchemy) with ``django: {conn_max_age: N, pool: {min_size, max_size, timeout_s}}``."""
    name = raw.get("orm", "sqlalchemy")
    if not isinstance(name, str) or name not in ORMS:
        r.problem("orm", f"must be one of {', '.join(ORMS)}, got {shown(name)}")
        return Orm()
    settings = r.mapping(raw.get("django"), "django", ("conn_max_age", "pool"))
    pool = None
    if settings.get("pool") is not None:
        raw_pool = r.mapping(settings.get("pool"), "django.pool", ("min_size", "max_size", "timeout_s"))
        pool = DjangoPool(
            min_size=r.integer(raw_pool, "min_size", "django.pool", minimum=0, maximum=MAX_POOL, default=0),
            max_size=r.integer(raw_pool, "max_size", "django.pool", minimum=1, maximum=MAX_POOL),
            timeout_s=r.number(raw_pool, "timeout_s", "django.pool", minimum=0, maximum=MAX_TIMEOUT_S,
                               exclusive_min=True, default=30.0),
        )
    orm = Orm(name=name, conn_max_age=r.integer(settings, "conn_max_age", "django", minimum=0,
                                                maximum=MAX_CONN_MAX_AGE, default=0), pool=pool)
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
        processes=r.integer(data, "processes", "tiers.worker", minimum=1, maximum=MAX_WORKER_PROCESSES, default=1),
        concurrency=r.integer(data, "concurrency", "tiers.worker", minimum=1, maximum=MAX_THREADS),
        pool=r.integer(data, "pool", "tiers.worker", minimum=1, maximum=MAX_POOL),
        checkout_timeout_s=r.number(data, "checkout_timeout_s", "tiers.worker", minimum=0, maximum=MAX_TIMEOUT_S,
                                    default=5.0, exclusive_min=True),
        kind=r.text(data, "kind", "tiers.worker", choices=WORKER_KINDS, default="threaded"),
        fork_safety=r.text(data, "fork_safety", "tiers.worker", choices=FORK_SAFETY, default="safe"),
    )


def _extras(r: Reader, raw: Any, duration_s: float) -> tuple[Extra, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_EXTRAS:
        r.problem("extras", f"must be a list of at most {MAX_EXTRAS} {{group, count, at_s, hold_s, connections, "
                  "every_s}")
        return ()
    extras = []
    for i, item in enumerate(raw):
        where = f"extras[{i}]"
        data = r.mapping(item, where, ("group", "count", "at_s", "hold_s", "connections", "every_s"))
        group = r.identifier(data, "group", where)
        if group.startswith(("web", "worker", "connlab")):
            r.problem(f"{where}.group", f"{group!r} is taken by the harness; use a name like rake or console")
        extra = Extra(
            group=group,
            count=r.integer(data, "count", where, minimum=1, maximum=MAX_ONEOFFS, default=1),
            at_s=r.number(data, "at_s", where, minimum=0, maximum=MAX_DURATION_S, default=0.0),
            hold_s=r.number(data, "hold_s", where, minimum=0, maximum=MAX_DURATION_S, exclusive_min=True),
            connections=r.integer(data, "connections", where, minimum=1, maximum=MAX_ONEOFF_CONNECTIONS, default=1),
            every_s=r.number(data, "every_s", where, minimum=0, maximum=MAX_DURATION_S, exclusive_min=True)
            if "every_s" in data else None,
        )
        bursts = 0 if extra.every_s is None else math.ceil(max(0.0, duration_s - extra.at_s) / extra.every_s)
        if bursts > MAX_BURSTS:
            r.problem(f"{where}.every_s", f"repeats {bursts:,} times within the traffic ({duration_s:g} s); at most "
                      f"{MAX_BURSTS}: make every_s at least {math.ceil(duration_s / MAX_BURSTS):g}")
        extras.append(extra)
    return tuple(extras)


def _traffic(r: Reader, raw: Any) -> Traffic:
    allowed = ("query_ms", "stages", "enqueue_share", "job_ms", "jobs_per_enqueue", "cache_share", "redis_ms",
               "job_redis_ms", "work_ms")
    data = r.mapping(raw, "traffic", allowed)
    stages_raw = data.get("stages")
    stages: list[Stage] = []
    if not isinstance(stages_raw, list) or not stages_raw or len(stages_raw) > MAX_STAGES:
        r.problem("traffic.stages", f"must be a non-empty list of at most {MAX_STAGES} {{duration_s, users, "
                  "spawn_rate}")
    else:
        for i, item in enumerate(stages_raw):
            where = f"traffic.stages[{i}]"
            stage = r.mapping(item, where, ("duration_s", "users", "spawn_rate"))
            stages.append(Stage(
                duration_s=r.number(stage, "duration_s", where, minimum=0, maximum=MAX_DURATION_S,
                                    exclusive_min=True),
                users=r.integer(stage, "users", where, minimum=0, maximum=MAX_USERS),
                spawn_rate=r.number(stage, "spawn_rate", where, minimum=0, maximum=MAX_SPAWN_RATE,
                                    exclusive_min=True, default=100.0),
            ))
    traffic = Traffic(
        query_ms=r.integer(data, "query_ms", "traffic", minimum=0, maximum=MAX_MS),
        stages=tuple(stages),
        enqueue_share=r.number(data, "enqueue_share", "traffic", minimum=0, maximum=1, default=0.0),
        job_ms=r.integer(data, "job_ms", "traffic", minimum=0, maximum=MAX_MS, default=500),
        jobs_per_enqueue=r.integer(data, "jobs_per_enqueue", "traffic", minimum=1, maximum=MAX_JOBS_PER_ENQUEUE,
                                   default=1),
        cache_share=r.number(data, "cache_share", "traffic", minimum=0, maximum=1, default=0.0),
        redis_ms=r.integer(data, "redis_ms", "traffic", minimum=0, maximum=MAX_MS, default=100),
        job_redis_ms=r.integer(data, "job_redis_ms", "traffic", minimum=0, maximum=MAX_MS, default=0),
        work_ms=r.integer(data, "work_ms", "traffic", minimum=0, maximum=MAX_MS, default=0),
    )
    if traffic.duration_s > MAX_DURATION_S:
        r.problem("traffic.stages", f"last {traffic.duration_s:g} s in all; at most {MAX_DURATION_S:g} s")
    if traffic.enqueue_share + traffic.cache_share > 1 + 1e-9:
        r.problem("traffic.cache_share", f"enqueue_share + cache_share must be <= 1 (the rest are /db requests), "
                  f"got {traffic.enqueue_share:g} + {traffic.cache_share:g}")
    return traffic


def _events(r: Reader, raw: Any, duration_s: float) -> tuple[Event, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_EVENTS:
        r.problem("events", f"must be a list of at most {MAX_EVENTS} {{at_s, action, ...}}")
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
            at_s=r.number(data, "at_s", where, minimum=0, maximum=MAX_DURATION_S),
            action=action,
            dynos=r.integer(data, "dynos", where, minimum=1, maximum=MAX_DYNOS) if action == "scale" else 0,
            overlap_s=r.number(data, "overlap_s", where, minimum=0, maximum=MAX_DURATION_S, exclusive_min=True)
            if action == "deploy" else 0.0,
            group=r.identifier(data, "group", where) if data.get("group") not in (None, "") else "",
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
    groups_given = data.get("groups")
    if groups_given is not None and not isinstance(groups_given, dict):
        r.problem(f"{where}.groups", f"must be a mapping of group names (web.1, worker.1, rake ...) to figures, "
                  f"got {shown(groups_given)}")
        groups_given = None
    groups: dict[str, Range] = {}
    for key, value in (groups_given or {}).items():
        if not isinstance(key, str) or not is_identifier(key):
            r.problem(f"{where}.groups", f"a group is a name of {IDENTIFIER_RULE}, got {shown(key)}")
        elif (rng := r.range_(value, f"{where}.groups.{key}")) is not None:
            groups[key] = rng
    return ResourceExpectation(
        peak=r.range_(data["peak"], f"{where}.peak") if "peak" in data else None,
        rejected=r.range_(data["rejected"], f"{where}.rejected") if "rejected" in data else None,
        exhausted=exhausted,
        groups=groups,
    )


def _expect(r: Reader, raw: Any) -> Expectations:
    data = r.mapping(raw, "expect", (*LIMITS, "errors"))
    errors_raw = r.mapping(data.get("errors"), "expect.errors", ERROR_KINDS)
    errors = {k: rng for k, v in errors_raw.items()
              if k in ERROR_KINDS and (rng := r.range_(v, f"expect.errors.{k}")) is not None}
    return Expectations(
        resources={name: _resource_expectation(r, data.get(name), f"expect.{name}") for name in LIMITS},
        errors=errors,
    )


#: a character a description may not hold: the C0 and C1 controls but tab and line feed (an escape code would
#: act on the terminal the description is printed to)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

TOP_KEYS = ("name", "description", "app", *LIMITS, "tiers", "extras", "traffic", "events", "expect", "orm", "django")


def parse_plan(raw: Any, path: Path) -> Plan:
    """Build a ``Plan`` from parsed YAML, or raise ``PlanError`` listing every problem."""
    r = Reader(path)
    if not isinstance(raw, dict):
        raise PlanError([f"{path}: the file must hold a mapping with keys {', '.join(TOP_KEYS)}"])
    data = r.mapping(raw, "", TOP_KEYS)
    limits = {name: kind.read(r, data.get(name)) for name, kind in LIMITS.items()}
    tiers = r.mapping(data.get("tiers"), "tiers", ("web", "worker"))
    traffic = _traffic(r, data.get("traffic"))
    description = data.get("description", "")
    if not isinstance(description, str):
        r.problem("description", "must be a string")
        description = ""
    elif (control := _CONTROL.search(description)) is not None:
        r.problem("description", f"holds a control character ({shown(control.group())}); only text, tabs and "
                  "line breaks")
        description = ""
    plan = Plan(
        name=name_of(path) if data.get("name") is None else r.identifier(data, "name", ""),
        path=path,
        description=description.strip(),
        app=r.text(data, "app", "", choices=APPS),
        limits=limits,
        web=_web(r, tiers.get("web")),
        worker=_worker(r, tiers.get("worker")),
        extras=_extras(r, data.get("extras"), traffic.duration_s),
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


def name_of(path: Path) -> str:
    """A scenario's name when it gives none: its file's name, made an identifier (``My Plan.yaml``: my-plan), since
    it names the run's folder."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", path.stem.lower()).strip("-_.")
    name = re.sub(r"\.{2,}", ".", name)[:63].strip("-_.")
    return name or "scenario"


def load_plan(path: Path, *, app: str | None = None) -> Plan:
    """Read (``harness.scenario_file``: bounded, one line per refusal) and validate a scenario file; ``app`` (the
    CLI's ``--app``) replaces the file's own before validation, so a plan it makes impossible (``orm: django`` on
    rails, ``server: unicorn`` on python) is refused as the file would be."""
    raw = read_scenario(path)
    if app is not None and isinstance(raw, dict):
        raw = {**raw, "app": app}
    return parse_plan(raw, path)

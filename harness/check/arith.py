"""The arithmetic of ``connlab check``: an app's process types, a formation and the limits, as connections.

Per process of a type with T threads, per database pool of size S (the
formulas of ``harness.predict``, by pool kind)::

    activerecord          expected min(T, S)           worst S
    sqlalchemy            expected min(T, S + O)       worst S + O        (O = max_overflow)
    django-per-thread     expected T                   worst T            (CONN_MAX_AGE > 0: one per thread, kept)
    django-per-request    expected T                   worst 2T           (CONN_MAX_AGE 0: a session per request;
                                                                           a closed one still counts until its
                                                                           backend exits, after the next began)
    django-pool           expected max(m, min(T, S))   worst max(m, S)    (m = min_size, open even idle)
    held                  expected S                   worst S + O        (a process tree's connections, summed
                                                                           by its reader: Solid Queue)

A type's figure is that x processes per dyno x its dynos; a resource's is the
sum over types and over the databases on that server. One-offs count one
process; ``release`` runs only during a deploy: shown apart, left out of the
steady-state total. Redis: per process, the sum of its ``RedisUse`` entries
(each pool or client it opens, with the formulas of ``harness.kinds``).

    capacity (Postgres) = max_connections - superuser_reserved_connections
    status: exhausts when expected > capacity; else incomplete when a figure in the total is unknown
            (``Setting.missing``); else at-risk when only the worst case is over, else fits

An unknown figure counts as its placeholder, the least it can be (1 process, 1
thread, a pool of 1), and every formula grows with its inputs: the expected
count is then a lower bound, so "exhausts" stays certain, and anything short of
it is "incomplete", never "fits".

A type with no dynos in the formation counts nothing, so its unknown figures do
not make the result incomplete; a counted type's processes and threads are in
every resource it connects to, its pools in Postgres, its Redis uses in Redis.

The sweep walks the autoscaled type from its lowest to its highest count: the
largest count that fits, and the first that exhausts. The advice: a pool per
type equal to its threads (fewer starves threads, more only waits), and for
pgbouncer (transaction pooling) ``max_client_conn`` >= the worst case at the
top of the range and a server pool of the expected busy connections there,
capped at the capacity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.check.model import AppConfig, Pool, ProcessType, Setting
from harness.kinds import Demand, activerecord, django, oneoff, sqlalchemy
from harness.prediction import AT_RISK, EXHAUSTS, FITS
from harness.resources.postgres.limits import capacity as postgres_capacity

INCOMPLETE = "incomplete"
DEFAULT_DYNOS = 1  # a type --formation does not name


@dataclass(frozen=True, kw_only=True)
class Limits:
    postgres_max_connections: int | None
    postgres_reserved: int = 3
    redis_maxclients: int | None = None

    @property
    def postgres_capacity(self) -> int | None:
        if self.postgres_max_connections is None:
            return None
        return postgres_capacity(max_connections=self.postgres_max_connections,
                                 superuser_reserved_connections=self.postgres_reserved)


@dataclass(frozen=True, kw_only=True)
class TypeFigure:
    """One process type at a dyno count, on one resource."""

    name: str
    role: str
    dynos: int
    per_process_expected: int
    per_process_worst: int
    processes: int
    expected: int
    worst_case: int
    formula: str
    #: the unknown figures in this count: "web.pool (--set web.pool=N)"
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ResourceFigure:
    name: str
    capacity: int | None
    types: tuple[TypeFigure, ...]
    release: TypeFigure | None = None

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for t in self.types for m in t.missing))

    @property
    def expected(self) -> int:
        return sum(t.expected for t in self.types)

    @property
    def worst_case(self) -> int:
        return sum(t.worst_case for t in self.types)

    @property
    def status(self) -> str:
        if self.capacity is not None and self.expected > self.capacity:
            return EXHAUSTS
        if self.missing:
            return INCOMPLETE
        if self.capacity is None:
            return "no limit given"
        return AT_RISK if self.worst_case > self.capacity else FITS


@dataclass(frozen=True, kw_only=True)
class SweepPoint:
    dynos: int
    postgres: ResourceFigure
    redis: ResourceFigure


@dataclass(frozen=True, kw_only=True)
class Sweep:
    process_type: str
    points: tuple[SweepPoint, ...]

    def largest_fitting(self, resource: str) -> int | None:
        fitting = [p.dynos for p in self.points if getattr(p, resource).status == FITS]
        return max(fitting) if fitting else None

    def first_exhausting(self, resource: str) -> int | None:
        return next((p.dynos for p in self.points if getattr(p, resource).status == EXHAUSTS), None)


def pool_demand(pool: Pool, threads: int) -> Demand:
    """Connections one process holds in ``pool``, by its kind's formula (``harness.kinds``)."""
    size = pool.size.value
    if pool.kind == "sqlalchemy":
        overflow = pool.overflow.value if pool.overflow is not None else 0
        return sqlalchemy.pool_postgres(threads=threads, size=size, overflow=overflow)
    if pool.kind == "django-per-thread":
        return django.connections_postgres(threads=threads, conn_max_age=None)
    if pool.kind == "django-per-request":
        return django.connections_postgres(threads=threads, conn_max_age=0)
    if pool.kind == "held":
        extra = pool.overflow.value if pool.overflow is not None else 0
        return Demand(expected=size, worst=size + extra,
                      formula=pool.size.source.split(" (pool ")[0] + (f" .. +{extra}" if extra else ""))
    if pool.kind == "django-pool":
        return django.pool_postgres(threads=threads, min_size=pool.min_size.value if pool.min_size else 0,
                                    max_size=size)
    return activerecord.pool_postgres(threads=threads, pool=size)


def pool_figures(pool: Pool, threads: int) -> tuple[int, int, str]:
    """Connections one process holds in ``pool``: (expected, worst case, the formula with its numbers)."""
    demand = pool_demand(pool, threads)
    return demand.expected, demand.worst, demand.formula


def _missing(process: ProcessType, dynos: int, settings: dict[str, Setting | None]) -> tuple[str, ...]:
    """The unknown figures among ``settings`` (field name -> figure) of a type that counts (dynos > 0)."""
    if dynos <= 0:
        return ()
    return tuple(f"{process.name}.{field} ({setting.missing})" for field, setting in settings.items()
                 if setting is not None and setting.missing)


def _postgres_type(process: ProcessType, dynos: int) -> TypeFigure:
    threads = process.threads.value
    expected = worst = 0
    formulas = []
    settings: dict[str, Setting | None] = {"processes": process.processes, "threads": process.threads}
    for pool in process.pools:
        if pool.server:
            continue  # another server: not the one the limit describes
        held = pool_demand(pool, threads)
        if process.role == "oneoff":
            held = oneoff.postgres(held)
        expected, worst = expected + held.expected, worst + held.worst
        formulas.append(f"{pool.database}: {held.formula}")
        label = "pool" if pool.database in ("primary", "default") else f"pool ({pool.database})"
        settings.update({label: pool.size, f"{label} max_overflow": pool.overflow, f"{label} min_size": pool.min_size})
    if not process.pools or process.role in ("oneoff", "release"):
        settings.pop("threads")  # no pool: threads open nothing here; a one-off holds 1 whatever its threads
    processes = process.processes.value
    return TypeFigure(name=process.name, role=process.role, dynos=dynos, per_process_expected=expected,
                      per_process_worst=worst, processes=processes, expected=dynos * processes * expected,
                      worst_case=dynos * processes * worst,
                      formula=f"{dynos} x {processes} x ({' + '.join(formulas) or 'no pool'})",
                      missing=_missing(process, dynos, settings))


def _redis_type(process: ProcessType, dynos: int) -> TypeFigure | None:
    if not process.redis:
        return None
    expected = sum(use.expected.value for use in process.redis)
    worst = sum(use.worst.value for use in process.redis)
    processes = process.processes.value
    settings: dict[str, Setting | None] = {"processes": process.processes, "threads": process.threads}
    for use in process.redis:
        settings[f"redis {use.what}"] = use.expected if use.expected.missing else use.worst
    parts = " + ".join(f"{use.what} {use.expected.value} .. {use.worst.value}: {use.worst.source}"
                       for use in process.redis)
    return TypeFigure(name=process.name, role=process.role, dynos=dynos, per_process_expected=expected,
                      per_process_worst=worst, processes=processes, expected=dynos * processes * expected,
                      worst_case=dynos * processes * worst, formula=f"{dynos} x {processes} x ({parts})",
                      missing=_missing(process, dynos, settings))


def figures(app: AppConfig, formation: Mapping[str, int], limits: Limits) -> tuple[ResourceFigure, ResourceFigure]:
    """Postgres and Redis for ``formation`` (dynos per process type; a type it does not name runs one dyno, as
    foreman, compose and Kamal run one of each: leaving a worker out would count it as nothing; ``--formation
    worker=0`` says it does not run)."""
    postgres: list[TypeFigure] = []
    redis: list[TypeFigure] = []
    release = None
    for process in app.process_types:
        dynos = formation.get(process.name, DEFAULT_DYNOS)
        figure = _postgres_type(process, dynos)
        if process.role == "release":
            release = figure
            continue
        for counted in (process, *process.beside):  # a tree beside the type's processes: once per dyno of it
            postgres.append(figure if counted is process else _postgres_type(counted, dynos))
            on_redis = _redis_type(counted, dynos)
            if on_redis is not None:
                redis.append(on_redis)
    return (ResourceFigure(name="postgres", capacity=limits.postgres_capacity, types=tuple(postgres), release=release),
            ResourceFigure(name="redis", capacity=limits.redis_maxclients, types=tuple(redis)))


def sweep(app: AppConfig, formation: Mapping[str, int], limits: Limits, *, process_type: str, low: int,
          high: int) -> Sweep:
    points = []
    for dynos in range(low, high + 1):
        postgres, redis = figures(app, {**formation, process_type: dynos}, limits)
        points.append(SweepPoint(dynos=dynos, postgres=postgres, redis=redis))
    return Sweep(process_type=process_type, points=tuple(points))


def pool_advice(app: AppConfig) -> list[str]:
    """A pool per process type equal to its threads."""
    lines = []
    for process in app.process_types:
        threads = process.threads.value
        for pool in process.pools:
            if pool.kind not in ("activerecord", "sqlalchemy") or process.role in ("oneoff", "release") \
                    or pool.size.missing or process.threads.missing:
                continue
            size = pool.size.value + (pool.overflow.value if pool.overflow is not None else 0)
            if size < threads:
                lines.append(f"{process.name} ({pool.database}): pool {size} < {threads} threads: threads wait for "
                             f"a connection (pool timeouts); set pool to {threads}")
            elif size > threads:
                lines.append(f"{process.name} ({pool.database}): pool {size} > {threads} threads: "
                             f"{size - threads} connection(s) per process only wait; pool {threads} is enough")
    return lines


def pgbouncer_advice(top: ResourceFigure) -> str:
    """What pgbouncer (transaction pooling) needs for the same traffic at the top of the range."""
    server = top.expected if top.capacity is None else min(top.expected, top.capacity)
    return (f"pgbouncer (transaction pooling): max_client_conn >= {top.worst_case} (every pool full), "
            f"a server pool of {server} (the connections busy when every thread queries at once"
            + (f", capped at the capacity {top.capacity}" if top.capacity is not None and top.expected > top.capacity
               else "") + ")")

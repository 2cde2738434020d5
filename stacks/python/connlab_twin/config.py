"""Every environment variable the twin reads, parsed in this one place.

The harness passes all settings as CONNLAB_* variables (stacks/CONTRACT.md).
Each entry point loads the settings it needs once, at start-up, before any
server starts, so a missing or malformed variable stops the process with one
clear line on stderr and exit status 2 instead of a traceback from deep
inside gunicorn or dramatiq.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import Literal, NoReturn, TypeVar

#: Exit status for a missing or malformed variable.
EXIT_CONFIG = 2

#: CONNLAB_FORK_SAFETY: ``safe`` (default) opens connections only after fork;
#: ``unsafe`` opens one in the parent and lets the forked children share it.
ForkSafety = Literal["safe", "unsafe"]
#: CONNLAB_JOBS: the job library behind /enqueue and bin/worker.
Jobs = Literal["dramatiq", "rq"]
#: CONNLAB_ORM: what the web's /db queries through: SQLAlchemy's QueuePool or Django's ORM.
OrmName = Literal["sqlalchemy", "django"]

_FORK_SAFETY: tuple[ForkSafety, ...] = ("safe", "unsafe")
_JOBS: tuple[Jobs, ...] = ("dramatiq", "rq")
_ORMS: tuple[OrmName, ...] = ("sqlalchemy", "django")

C = TypeVar("C", bound=str)


@dataclass(frozen=True)
class Database:
    """How one process reaches Postgres, and how big its pool is."""

    url: str
    group: str
    pool: int
    checkout_timeout_s: float
    fork_safety: ForkSafety = "safe"


@dataclass(frozen=True)
class DjangoPool:
    """Django 5.1+'s native psycopg pool: ``OPTIONS["pool"] = {min_size, max_size, timeout}``."""

    min_size: int
    max_size: int
    timeout_s: float


@dataclass(frozen=True)
class Django:
    """The web's Django settings: CONN_MAX_AGE and, optionally, the native pool (then CONN_MAX_AGE is 0)."""

    conn_max_age: int = 0
    pool: DjangoPool | None = None


@dataclass(frozen=True)
class Web:
    """Settings of one web dyno (bin/web)."""

    database: Database
    redis_url: str
    port: int
    workers: int
    threads: int
    jobs: Jobs = "dramatiq"
    #: CONNLAB_BIND: the address to bind, 127.0.0.1 unless a compose file sets 0.0.0.0 inside a container
    bind: str = "127.0.0.1"
    #: CONNLAB_ORM: sqlalchemy (``connlab_twin.web``) or django (``connlab_twin.django_app``)
    orm: OrmName = "sqlalchemy"
    #: with orm django: CONNLAB_CONN_MAX_AGE and CONNLAB_DJANGO_POOL_{MIN,MAX,TIMEOUT_S}
    django: Django = Django()


@dataclass(frozen=True)
class Worker:
    """Settings of one job-worker process (bin/worker)."""

    database: Database
    redis_url: str
    concurrency: int
    jobs: Jobs = "dramatiq"


@dataclass(frozen=True)
class Cache:
    """How one process reaches the cache (``connlab_twin.cache``)."""

    redis_url: str
    group: str
    pool: int
    checkout_timeout_s: float


@dataclass(frozen=True)
class Oneoff:
    """Settings of one one-off process (bin/oneoff)."""

    url: str
    group: str
    connections: int
    hold_s: float


def fail(message: str) -> NoReturn:
    """Print one line on stderr and exit with status 2."""
    print(f"connlab_twin: {message}", file=sys.stderr, flush=True)
    sys.exit(EXIT_CONFIG)


def _text(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if default is not None:
        return default
    fail(f"missing environment variable {name}")


def _int(name: str, *, low: int, high: int | None = None, default: int | None = None) -> int:
    raw = _text(name, None if default is None else str(default))
    try:
        value = int(raw)
    except ValueError:
        fail(f"{name}={raw!r} is not an integer")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in {low}..{high}"
        fail(f"{name}={raw!r} must be {bounds}")
    return value


def _seconds(name: str, default: float | None = None) -> float:
    raw = _text(name, None if default is None else str(default))
    try:
        value = float(raw)
    except ValueError:
        fail(f"{name}={raw!r} is not a number of seconds")
    if not math.isfinite(value) or value < 0:
        fail(f"{name}={raw!r} must be a finite number >= 0")
    return value


def _choice(name: str, choices: tuple[C, ...]) -> C:
    """One of ``choices`` (the first is the default), case-insensitive."""
    raw = _text(name, choices[0])
    for choice in choices:
        if raw.lower() == choice:
            return choice
    fail(f"{name}={raw!r} must be one of {', '.join(choices)}")


def database() -> Database:
    """Postgres settings shared by web and worker processes."""
    return Database(
        url=_text("CONNLAB_DATABASE_URL"),
        group=_text("CONNLAB_GROUP"),
        pool=_int("CONNLAB_POOL", low=1),
        checkout_timeout_s=_seconds("CONNLAB_CHECKOUT_TIMEOUT_S"),
        fork_safety=_choice("CONNLAB_FORK_SAFETY", _FORK_SAFETY),
    )


def django() -> Django:
    """CONNLAB_CONN_MAX_AGE (default 0) and the pool, present when CONNLAB_DJANGO_POOL_MAX is set."""
    conn_max_age = _int("CONNLAB_CONN_MAX_AGE", low=0, default=0)
    if not os.environ.get("CONNLAB_DJANGO_POOL_MAX", "").strip():
        return Django(conn_max_age=conn_max_age)
    pool = DjangoPool(
        min_size=_int("CONNLAB_DJANGO_POOL_MIN", low=0, default=0),
        max_size=_int("CONNLAB_DJANGO_POOL_MAX", low=1),
        timeout_s=_seconds("CONNLAB_DJANGO_POOL_TIMEOUT_S", 30.0),
    )
    if pool.min_size > pool.max_size:
        fail(f"CONNLAB_DJANGO_POOL_MIN={pool.min_size} must be at most CONNLAB_DJANGO_POOL_MAX={pool.max_size}")
    if conn_max_age != 0:
        fail(f"CONNLAB_CONN_MAX_AGE={conn_max_age} must be 0 with a pool (Django refuses persistent connections "
             "with its pool)")
    return Django(conn_max_age=0, pool=pool)


def web() -> Web:
    """Settings for bin/web; exits 2 if any is missing or malformed."""
    database_settings = database()
    orm = _choice("CONNLAB_ORM", _ORMS)
    if orm == "django" and database_settings.fork_safety == "unsafe":
        fail("CONNLAB_FORK_SAFETY=unsafe is the SQLAlchemy twin's; with CONNLAB_ORM=django use safe")
    return Web(
        database=database_settings,
        redis_url=_text("CONNLAB_REDIS_URL"),
        port=_int("CONNLAB_PORT", low=1, high=65535),
        workers=_int("CONNLAB_WORKERS", low=1),
        threads=_int("CONNLAB_THREADS", low=1),
        jobs=_choice("CONNLAB_JOBS", _JOBS),
        bind=_text("CONNLAB_BIND", "127.0.0.1"),
        orm=orm,
        django=django() if orm == "django" else Django(),
    )


def worker() -> Worker:
    """Settings for bin/worker; exits 2 if any is missing or malformed."""
    return Worker(
        database=database(),
        redis_url=_text("CONNLAB_REDIS_URL"),
        concurrency=_int("CONNLAB_CONCURRENCY", low=1),
        jobs=_choice("CONNLAB_JOBS", _JOBS),
    )


def cache() -> Cache:
    """The cache pool: one connection per thread (CONNLAB_THREADS, else CONNLAB_CONCURRENCY, else 1)."""
    threads = os.environ.get("CONNLAB_THREADS", "").strip()
    return Cache(
        redis_url=_text("CONNLAB_REDIS_URL"),
        group=_text("CONNLAB_GROUP"),
        pool=_int("CONNLAB_THREADS" if threads else "CONNLAB_CONCURRENCY", low=1, default=1),
        checkout_timeout_s=_seconds("CONNLAB_CHECKOUT_TIMEOUT_S"),
    )


def oneoff() -> Oneoff:
    """Settings for bin/oneoff; exits 2 if any is missing or malformed."""
    return Oneoff(
        url=_text("CONNLAB_DATABASE_URL"),
        group=_text("CONNLAB_GROUP"),
        connections=_int("CONNLAB_CONNECTIONS", low=1, default=1),
        hold_s=_seconds("CONNLAB_HOLD_S"),
    )

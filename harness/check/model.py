"""What the readers make of an app's files: plain values, each with where it came from.

A reader (``rails.py``, ``python.py``) turns an app folder into an
``AppConfig``: its process types (from the Procfile), and for each the server,
processes per dyno, threads per process and the database pools each process
holds, every figure a ``Setting`` that names its source ("config/puma.rb:4",
"env WEB_CONCURRENCY", "default (Puma 6)", "flag --pool"). What a reader cannot
read, or reads only in part, is a ``Problem``: one line naming the file, what
was not understood, and the flag that supplies it instead. The arithmetic
(``harness.check.arith``) reads only these types.

Unknown is not zero. A figure the reader could not read, and that no framework
default supplies, is a ``Setting`` with ``missing`` set to the flag that
supplies it (``--set web.pool=N``); its ``value`` is only a placeholder, the
least it can be (1). A result with such a figure in a total is
**incomplete**: its own status and exit code, whatever the counts say. A
documented default (Rails' pool 5, Sidekiq 7's concurrency 5, gunicorn's one
worker) is knowledge: it counts, with its source, and is not missing. A
``Problem`` with ``incomplete`` set makes the whole result incomplete even
with no figure to hang it on (no process type found at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["web", "worker", "oneoff", "release"]


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One figure and where it came from (a file and line, an env var, a default, a flag)."""

    value: int
    source: str
    #: not known: the flag (or --env) that supplies it; ``value`` is then a placeholder (the least it can be)
    missing: str = ""


def unknown(*, source: str, fix: str, value: int = 1) -> Setting:
    """A figure that was not read: ``source`` says why, ``fix`` which flag supplies it."""
    return Setting(value=value, source=f"unknown: {source}", missing=fix)


@dataclass(frozen=True, kw_only=True)
class RedisUse:
    """One Redis pool or client each process of a type holds, with its connections: expected and worst case.

    ``what``: "Sidekiq server", "Sidekiq client", "Rails.cache (redis_cache_store)", "ActionCable",
    "Resque worker", "Celery broker", "RQ worker", "dramatiq", "django-redis" ...; the figures come from the
    formulas of ``harness.kinds`` (the ones ``connlab predict`` uses), their sources naming the formula.
    """

    what: str
    expected: Setting
    worst: Setting


@dataclass(frozen=True, kw_only=True)
class Pool:
    """A database connection pool each process of a type holds (one per database it connects to).

    ``kind``: ``activerecord`` (lazily filled up to ``size``, one per thread that queries), ``sqlalchemy``
    (``size`` + ``overflow`` at most), ``django-per-thread`` / ``django-per-request`` (CONN_MAX_AGE > 0 / 0: a
    connection per thread, kept, or closed after each request), ``django-pool`` (psycopg pool: ``min_size``
    open even idle, ``size`` = max_size), ``held`` (the connections a process tree holds, summed by its reader:
    ``size`` expected, ``size`` + ``overflow`` at worst; Solid Queue's supervisor tree).
    ``database``: its name (primary, cache, queue, cable, default ...); ``server``: which Postgres it is on
    (``""`` = the one ``--postgres-max-connections`` describes).
    """

    database: str
    kind: str
    size: Setting
    overflow: Setting | None = None
    min_size: Setting | None = None
    server: str = ""


@dataclass(frozen=True, kw_only=True)
class ProcessType:
    """One Procfile line: ``name: command``, read as a server with its processes, threads and pools."""

    name: str
    command: str
    role: Role
    server: str  # puma, unicorn, sidekiq, gunicorn, celery, rq, dramatiq, rake, unknown
    processes: Setting  # per dyno
    threads: Setting  # per process (Sidekiq: concurrency; Celery: concurrency per prefork child = 1 thread)
    pools: tuple[Pool, ...] = ()
    #: what each process holds on Redis, one entry per pool or client (none: it opens no Redis connection)
    redis: tuple[RedisUse, ...] = ()
    #: process trees that run once per dyno of this type beside its processes (Solid Queue's supervisor under
    #: ``plugin :solid_queue``, forked by Puma's launcher): counted with this type's dynos, each as its own row
    beside: tuple[ProcessType, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Problem:
    """Something a reader could not read, in one line: the file, what, and the flag that supplies it."""

    path: str
    what: str
    fix: str
    #: a figure that enters a total is unknown and no Setting carries it (no process type found at all)
    incomplete: bool = False

    def line(self) -> str:
        return f"{self.path}: {self.what}; {self.fix}"


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    framework: str  # rails, django, flask, python
    process_types: tuple[ProcessType, ...]
    versions: dict[str, str] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    #: the reader's own advice (a Solid Queue worker's pool below its threads + 2)
    advice: tuple[str, ...] = ()

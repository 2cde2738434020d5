"""The web app: a plain WSGI callable ``app`` (no framework), served by gunicorn.

GET /health          200 ok, touches neither Postgres nor Redis
GET /db?ms=N         one pooled connection runs SELECT pg_sleep(N/1000.0)
GET /enqueue?ms=N&n=K&cache_ms=M  K ``hold`` jobs of N ms each (K defaults to 1),
                     through dramatiq or, with CONNLAB_JOBS=rq, RQ; with M > 0 each
                     job first reads the cache holding a Redis connection M ms
GET /cache?ms=N      a cache read holding a pooled Redis connection N ms
                     (``connlab_twin.cache``: BLPOP with a timeout, then GET)
GET /versions        the versions this process runs (JSON), touches neither server

Any exception becomes the status and X-Connlab-Error headers of
stacks/CONTRACT.md (see ``connlab_twin.errors``). The database engine, the
Redis pool behind the job library and the cache's Redis pool are per worker
process and built on first use, so /health never opens a connection and the
gunicorn master never does.

Except with CONNLAB_FORK_SAFETY=unsafe: gunicorn then preloads this module in
the master, and importing it builds the engine and runs one query there (as
an app that checks its database at boot), so every worker inherits that open
connection; see ``connlab_twin.fork``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import math
import platform
import time
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIEnvironment

import redis

from connlab_twin import broker, cache, config, db, errors, fork, rq_jobs
from connlab_twin.per_process import PerProcess

_log = logging.getLogger(__name__)

Query = dict[str, list[str]]
#: Enqueues one ``hold(ms, cache_ms)`` job.
Sender = Callable[[float, float], None]


def _web_sender() -> Sender:
    """How this process enqueues ``hold``: over its own Redis pool of THREADS.

    dramatiq: the ``hold`` actor's ``send`` on a RedisBroker; RQ: an enqueue
    on the app's queue. Both use the same pool (client name CONNLAB_GROUP).
    """
    settings = config.web()
    pool = broker.web_pool(
        settings.redis_url,
        group=settings.database.group,
        threads=settings.threads,
        timeout_s=settings.database.checkout_timeout_s,
    )
    if settings.jobs == "rq":
        queue = rq_jobs.make_queue(redis.Redis(connection_pool=pool))

        def send_rq(ms: float, cache_ms: float) -> None:
            rq_jobs.enqueue_hold(queue, ms, cache_ms)

        return send_rq
    actor = broker.declare_hold(broker.make_broker(pool))

    def send_dramatiq(ms: float, cache_ms: float) -> None:
        actor.send(ms, cache_ms)

    return send_dramatiq


_send_hold: PerProcess[Sender] = PerProcess(_web_sender)


def _param(query: Query, name: str, default: str) -> str:
    values = query.get(name)
    return values[-1] if values else default


def _ms(query: Query, name: str = "ms") -> float:
    ms = float(_param(query, name, "0"))
    if not math.isfinite(ms) or ms < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {ms!r}")
    return ms


def _count(query: Query) -> int:
    n = int(_param(query, "n", "1"))
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return n


def _health(query: Query) -> None:
    """Nothing to do: answering proves the worker is up."""


def _db(query: Query) -> None:
    """The query (a connection checked out for it alone), then ``work_ms`` of work that needs none."""
    ms, work_ms = _ms(query), _ms(query, "work_ms")
    db.pg_sleep(fork.engine(), ms)
    if work_ms > 0:
        time.sleep(work_ms / 1000.0)


def _enqueue(query: Query) -> None:
    ms, n, cache_ms = _ms(query), _count(query), _ms(query, "cache_ms")
    send = _send_hold.get()
    for _ in range(n):
        send(ms, cache_ms)


def _cache(query: Query) -> None:
    cache.read(_ms(query))


_ROUTES: dict[str, Callable[[Query], None]] = {
    "/health": _health,
    "/db": _db,
    "/enqueue": _enqueue,
    "/cache": _cache,
}


def _reply(
    start_response: StartResponse,
    status: str,
    body: bytes,
    extra: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    extra = list(extra)
    plain = [("Content-Type", "text/plain; charset=us-ascii")]
    kind = [] if any(name == "Content-Type" for name, _ in extra) else plain
    headers = [*kind, ("Content-Length", str(len(body))), *extra]
    start_response(status, headers)
    return [body]


#: The distributions whose versions ``/versions`` reports, and the key each goes under ("redis" is the server's).
_VERSIONED = {"gunicorn": "gunicorn", "SQLAlchemy": "sqlalchemy", "psycopg": "psycopg", "redis": "redis-py",
              "dramatiq": "dramatiq", "rq": "rq", "Django": "django", "psycopg-pool": "psycopg_pool"}


def _versions() -> bytes:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name, key in _VERSIONED.items():
        try:
            found[key] = metadata.version(name)
        except metadata.PackageNotFoundError:
            # copied into an image without its metadata (harness/stack/images.py, VENDORED): ask the module
            with contextlib.suppress(ImportError, AttributeError):
                found[key] = str(importlib.import_module(name.lower()).__version__)
    return json.dumps(found).encode()


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The WSGI entry point (``connlab_twin.web:app``)."""
    path = environ.get("PATH_INFO") or "/"
    if path == "/versions":
        return _reply(start_response, "200 OK", _versions(), (("Content-Type", "application/json"),))
    handler = _ROUTES.get(path)
    if handler is None:
        return _reply(start_response, "404 Not Found", b"not found\n")
    try:
        handler(parse_qs(environ.get("QUERY_STRING", "")))
    except Exception as exc:
        reply = errors.describe(exc)
        if reply.status.startswith("500"):
            _log.exception("unexpected error on %s", path)
        return _reply(start_response, reply.status, reply.body(), reply.headers())
    return _reply(start_response, "200 OK", b"ok")


def _boot() -> None:
    """At import: with CONNLAB_FORK_SAFETY=unsafe, connect now, in this process.

    That process is the gunicorn master (``preload_app``), before it forks.
    """
    settings = config.database()
    if settings.fork_safety == "unsafe":
        fork.build_before_fork(settings)


_boot()

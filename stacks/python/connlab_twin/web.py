"""The web app: a plain WSGI callable ``app`` (no framework), served by gunicorn.

GET /health          200 ok, touches neither Postgres nor Redis
GET /db?ms=N         one pooled connection runs SELECT pg_sleep(N/1000.0)
GET /enqueue?ms=N&n=K  K dramatiq ``hold`` jobs of N ms each (K defaults to 1)

Any exception becomes the status and X-Connlab-Error headers of
stacks/CONTRACT.md (see ``connlab_twin.errors``). The database engine and the
Redis pool behind the broker are per worker process and built on first use,
so /health never opens a connection and the gunicorn master never does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIEnvironment

import dramatiq

from connlab_twin import broker, config, db, errors
from connlab_twin.per_process import PerProcess

_log = logging.getLogger(__name__)

Query = dict[str, list[str]]


def _web_hold() -> dramatiq.Actor[[float], None]:
    """The ``hold`` actor on this process's broker (Redis pool of THREADS)."""
    settings = config.web()
    pool = broker.web_pool(
        settings.redis_url,
        group=settings.database.group,
        threads=settings.threads,
        timeout_s=settings.database.checkout_timeout_s,
    )
    return broker.declare_hold(broker.make_broker(pool))


_hold: PerProcess[dramatiq.Actor[[float], None]] = PerProcess(_web_hold)


def _param(query: Query, name: str, default: str) -> str:
    values = query.get(name)
    return values[-1] if values else default


def _ms(query: Query) -> float:
    ms = float(_param(query, "ms", "0"))
    if not math.isfinite(ms) or ms < 0:
        raise ValueError(f"ms must be a finite number >= 0, got {ms!r}")
    return ms


def _count(query: Query) -> int:
    n = int(_param(query, "n", "1"))
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return n


def _health(query: Query) -> None:
    """Nothing to do: answering proves the worker is up."""


def _db(query: Query) -> None:
    ms = _ms(query)
    db.pg_sleep(db.engine.get(), ms)


def _enqueue(query: Query) -> None:
    ms, n = _ms(query), _count(query)
    actor = _hold.get()
    for _ in range(n):
        actor.send(ms)


_ROUTES: dict[str, Callable[[Query], None]] = {
    "/health": _health,
    "/db": _db,
    "/enqueue": _enqueue,
}


def _reply(
    start_response: StartResponse,
    status: str,
    body: bytes,
    extra: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    headers = [
        ("Content-Type", "text/plain; charset=us-ascii"),
        ("Content-Length", str(len(body))),
        *extra,
    ]
    start_response(status, headers)
    return [body]


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The WSGI entry point (``connlab_twin.web:app``)."""
    path = environ.get("PATH_INFO") or "/"
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

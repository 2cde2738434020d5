"""The web app under Django (CONNLAB_ORM=django): Django's own WSGI handler, a tiny urlconf, settings in code.

gunicorn serves ``application`` (``gunicorn.conf.py`` picks it over ``connlab_twin.web:app``), so every
request runs Django's real request cycle: ``WSGIHandler`` sends ``request_started``, the middleware and
the view run, and ``request_finished`` goes out when gunicorn closes the response. Django connects
``close_old_connections`` to both signals, and that is what decides how long a connection lives:

* ``CONN_MAX_AGE`` 0 (Django's default): the first query of a request connects, and ``request_finished``
  closes the connection: a new Postgres session per request that queries, held to the end of the request;
* ``CONN_MAX_AGE`` N > 0: the connection is kept (one per thread: Django's connections are thread-local)
  and closed by a request that starts or ends more than N seconds after it was opened;
* ``OPTIONS["pool"]`` (Django 5.1+, psycopg 3, ``psycopg_pool.ConnectionPool`` per process, built by Django
  at the first connection and opened then, which opens ``min_size`` connections at once, busy or not): a
  request checks a connection out at its first query and gives it back at ``request_finished``; a request
  that waits ``timeout`` seconds for one gets ``psycopg_pool.PoolTimeout`` (Django wraps it in
  ``django.db.utils.OperationalError``; ``connlab_twin.errors`` answers 503 with the pool's class).

``GET /db?ms=N&work_ms=W`` runs ``SELECT pg_sleep(N/1000.0)`` through ``django.db.connection.cursor()``,
then W ms of work that touches no database, with the connection still the request's (Django gives it
back only at the end of the request, as Rails <= 7.1 does). The other routes are ``connlab_twin.web``'s
own handlers (/health, /enqueue over dramatiq or RQ, /cache, /versions). Every connection carries
``application_name`` = CONNLAB_GROUP (``OPTIONS``), so the harness counts it per group. The job worker
stays dramatiq (or RQ) over SQLAlchemy: only the web tier is Django.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import django
from django.conf import settings

from connlab_twin import config, errors, web

_log = logging.getLogger(__name__)


def databases(url: str, group: str, orm: config.Django) -> dict[str, dict[str, Any]]:
    """``DATABASES`` for ``url`` (``postgresql://user@host:port/name?sslmode=...``), as a settings.py has it."""
    parts = urlsplit(url)
    options: dict[str, Any] = {"application_name": group}
    options.update({key: values[-1] for key, values in parse_qs(parts.query).items()})
    if orm.pool is not None:
        options["pool"] = {"min_size": orm.pool.min_size, "max_size": orm.pool.max_size,
                           "timeout": orm.pool.timeout_s}
    return {"default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": orm.conn_max_age,
        "OPTIONS": options,
    }}


class ContractErrors:
    """Middleware: any exception in a view answers as stacks/CONTRACT.md says (status, two headers)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        """Django's middleware protocol."""
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        """Pass the request on."""
        return self.get_response(request)

    def process_exception(self, request: Any, exc: Exception) -> Any:
        """The contract's reply for ``exc`` (503 pool timeout, 502 database, 504 Redis, 500 else)."""
        from django.http import HttpResponse

        reply = errors.describe(exc)
        if reply.status.startswith("500"):
            _log.exception("unexpected error on %s", request.path)
        response = HttpResponse(reply.body(), status=int(reply.status[:3]),
                                content_type="text/plain; charset=us-ascii")
        for name, value in reply.headers():
            response[name] = value
        return response


def _query(request: Any) -> dict[str, list[str]]:
    return parse_qs(request.META.get("QUERY_STRING", ""))


def _ok() -> Any:
    from django.http import HttpResponse

    return HttpResponse(b"ok", content_type="text/plain; charset=us-ascii")


def db_view(request: Any) -> Any:
    """``SELECT pg_sleep(ms / 1000.0)`` on this thread's Django connection, then ``work_ms`` of other work."""
    from django.db import connection

    query = _query(request)
    ms, work_ms = web._ms(query), web._ms(query, "work_ms")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [ms / 1000.0])
    if work_ms > 0:
        time.sleep(work_ms / 1000.0)
    return _ok()


def _shared(path: str) -> Callable[[Any], Any]:
    """A view running ``connlab_twin.web``'s handler for ``path`` (none of them touches Postgres)."""
    handler = web._ROUTES[path]

    def view(request: Any) -> Any:
        handler(_query(request))
        return _ok()

    return view


def versions_view(request: Any) -> Any:
    """What this process runs, Django and psycopg_pool included (JSON)."""
    from django.http import HttpResponse

    return HttpResponse(web._versions(), content_type="application/json")


def _configure() -> None:
    web_settings = config.web()
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        SECRET_KEY="connlab-twin: no secret here",
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[f"{__name__}.ContractErrors"],
        INSTALLED_APPS=[],
        DATABASES=databases(web_settings.database.url, web_settings.database.group, web_settings.django),
        USE_TZ=True,
        TIME_ZONE="UTC",
        # no translations: the docker image's vendored Django has no locale folders (harness/stack/images.py)
        USE_I18N=False,
    )
    django.setup()


_configure()

from django.core.wsgi import get_wsgi_application  # noqa: E402 - needs the settings above
from django.urls import path  # noqa: E402

urlpatterns = [
    path("health", _shared("/health")),
    path("db", db_view),
    path("enqueue", _shared("/enqueue")),
    path("cache", _shared("/cache")),
    path("versions", versions_view),
]

#: The WSGI entry point (``connlab_twin.django_app:application``): Django's own handler.
application = get_wsgi_application()

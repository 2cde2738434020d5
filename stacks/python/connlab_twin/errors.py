"""Map an exception to the HTTP status and headers of stacks/CONTRACT.md.

503: pool checkout timeout; 502: a Postgres connection that could not be
made, was lost, or got a reply psycopg could not make sense of (a connection
two processes share); 504: any Redis (or dramatiq / RQ broker) error; 500:
anything else. The app only reports the exception's class and first message line;
the harness decides what kind of failure it was.

Django wraps every driver error in its own class of the same name
(``django.db.utils.OperationalError`` raised from psycopg's): the reply names
the driver's exception, its ``__cause__``, as the SQLAlchemy twin names
psycopg's through SQLAlchemy's message. So psycopg_pool's ``PoolTimeout``
(Django's native pool, "couldn't get a connection after 1.00 sec") answers 503
as ``psycopg_pool.PoolTimeout``, and Postgres refusing a connection 502 as
``psycopg.OperationalError`` "... FATAL:  sorry, too many clients already".
"""

from __future__ import annotations

from dataclasses import dataclass

import dramatiq.errors
import psycopg
import redis.exceptions
import sqlalchemy.exc

try:  # Django's native pool (psycopg[pool]); the SQLAlchemy twin runs without it
    from psycopg_pool import PoolTimeout
except ImportError:  # pragma: no cover - an environment without psycopg_pool
    PoolTimeout = None

MAX_MESSAGE = 200

_DB_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
_REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.RedisError,
    dramatiq.errors.BrokerError,
)


@dataclass(frozen=True)
class ErrorReply:
    """What the app answers for one exception."""

    status: str
    name: str
    message: str

    def headers(self) -> list[tuple[str, str]]:
        """The contract's two headers (values are printable ASCII)."""
        return [("X-Connlab-Error", self.name), ("X-Connlab-Error-Message", self.message)]

    def body(self) -> bytes:
        """``<class>: <message>``."""
        return f"{self.name}: {self.message}".encode("ascii")


def _garbled(exc: BaseException) -> bool:
    """psycopg's own complaint about a reply that fits no query it sent.

    A bare ``psycopg.InternalError`` without SQLSTATE (so not an error the
    server sent), e.g. "got no result from the query": what a connection
    shared by two processes produces when one reads the other's reply.
    """
    orig = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
    return isinstance(orig, psycopg.InternalError) and orig.sqlstate is None


def status_for(exc: BaseException) -> str:
    """The HTTP status line for ``exc``."""
    if isinstance(exc, sqlalchemy.exc.TimeoutError) or (PoolTimeout is not None and isinstance(exc, PoolTimeout)):
        return "503 Service Unavailable"
    if isinstance(exc, _DB_CONNECTION_ERRORS) or _garbled(exc):
        return "502 Bad Gateway"
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return "502 Bad Gateway"
    if isinstance(exc, _REDIS_ERRORS):
        return "504 Gateway Timeout"
    return "500 Internal Server Error"


def class_name(exc: BaseException) -> str:
    """Fully qualified class name: ``sqlalchemy.exc.TimeoutError``, ``ValueError``."""
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def first_line(exc: BaseException) -> str:
    """The first non-empty line of ``str(exc)``, printable ASCII, at most 200 chars.

    Non-ASCII and control characters become ``?`` so the value is always a
    legal HTTP header value.
    """
    lines = [line.strip() for line in str(exc).splitlines()]
    line = next((item for item in lines if item), "")
    cleaned = "".join(ch if " " <= ch <= "~" else "?" for ch in line)
    return cleaned[:MAX_MESSAGE]


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's exception behind a Django database error (``django.db.utils.*``), else ``exc`` itself."""
    if type(exc).__module__ == "django.db.utils" and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def describe(exc: BaseException) -> ErrorReply:
    """Status, class name and message line for ``exc`` (for a Django database error: the driver's)."""
    exc = _driver_error(exc)
    return ErrorReply(status=status_for(exc), name=class_name(exc), message=first_line(exc))

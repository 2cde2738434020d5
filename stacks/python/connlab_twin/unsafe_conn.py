"""The psycopg connections of the fork-unsafe engine: a reply deadline, logged notices.

When several processes share one Postgres socket (CONNLAB_FORK_SAFETY=unsafe,
without SSL), a process often reads a reply that another process is waiting
for. The twin's replies all look alike, so the reader is satisfied, and while
the load goes on the process whose reply was taken gets the next unclaimed
one. At the first lull, though, some process waits on the socket for a reply
that will never come: its thread (or RQ work horse) and the shared connection
are stuck for good, and the harness sees no error at all, only a request or a
job that never ends (see stacks/python/README.md for what was measured).

So ``fork.build_before_fork`` makes the unsafe engine open connections of
class ``DeadlineConnection``:

* each wait for the server (a query, a BEGIN, the pool's ROLLBACK) lasts at
  most the budget set by ``replies_within`` (``db.pg_sleep``: the query's own
  duration plus ``SLACK_S``). When it runs out the connection's protocol state
  is unknown, so it is closed (libpq sends Terminate, which ends the session
  for every process sharing it) and ``psycopg.OperationalError`` is raised: the
  request answers 502, the job fails, SQLAlchemy discards the connection;
* every notice the server or libpq sends (the server's "there is already a
  transaction in progress" when two processes' transactions interleave;
  libpq's "message type 0x.. arrived from server while idle") is printed as one
  ``connlab-notice`` line on stderr, since psycopg drops them by default.

Fork-safe engines never get this class: their behaviour is the contract's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen
from psycopg.errors import Diagnostic
from sqlalchemy import Engine, event

try:  # psycopg's own wait-timeout signal (internal; psycopg >= 3.3, Debian trixie has 3.2)
    from psycopg.errors import _WaitTimeout
except ImportError:  # pragma: no cover - only in an image with an older psycopg
    _WaitTimeout = None

#: Seconds a reply may take beyond the query's own duration.
SLACK_S = 2.0

RV = TypeVar("RV")

_budget: ContextVar[float | None] = ContextVar("connlab_reply_budget", default=None)


@contextmanager
def replies_within(seconds: float) -> Iterator[None]:
    """Within this block (this thread), each wait for Postgres lasts at most ``seconds``.

    Only ``DeadlineConnection`` honours it; other connections wait as long as it takes.
    """
    token = _budget.set(seconds)
    try:
        yield
    finally:
        _budget.reset(token)


class DeadlineConnection(psycopg.Connection[Any]):
    """A psycopg connection whose waits for the server honour ``replies_within``."""

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        """psycopg's wait, bounded by the current budget; on expiry: close, raise."""
        budget = _budget.get()
        if timeout is not None or budget is None:
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, budget)
        except _WaitTimeout:
            self.close()
            raise psycopg.OperationalError(
                f"no reply from the server within {budget:g}s (taken by another process "
                f"sharing the connection?): connection closed"
            ) from None


def _print_notice(diag: Diagnostic) -> None:
    line = f"connlab-notice pid={os.getpid()} {diag.severity}: {diag.message_primary}\n"
    os.write(2, line.encode(errors="replace"))


def install(engine: Engine) -> None:
    """Make every new connection of ``engine`` a ``DeadlineConnection`` that prints notices."""
    if _WaitTimeout is None:
        raise RuntimeError(f"the fork-unsafe engine needs psycopg >= 3.3 (this is {psycopg.__version__})")

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, record: Any, cargs: list[Any], cparams: dict[str, Any]) -> DeadlineConnection:
        conn = DeadlineConnection.connect(*cargs, **cparams)
        conn.add_notice_handler(_print_notice)
        return conn

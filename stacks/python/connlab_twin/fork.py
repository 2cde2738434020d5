"""Which engine a process queries through: its own, or one built before fork.

By default every process builds its own pool on first use, after fork
(``db.engine``, a PerProcess), so no socket ever crosses a ``fork()``: the
contract's rule, and the web's and dramatiq's behaviour with
CONNLAB_FORK_SAFETY=safe.

``build_before_fork()`` instead builds the engine in a parent (the gunicorn
master with ``preload_app``, the RQ supervisor), so that children inherit it:

* fork safe (RQ only): the parent opens no connection. Each child that is
  about to query calls ``after_fork()``, i.e. ``engine.dispose(close=False)``,
  which empties its copy of the pool without touching the parent's, then opens
  its own connection. It saves each RQ work horse building an engine (~0.1 s).
* fork unsafe (CONNLAB_FORK_SAFETY=unsafe) reproduces the classic bug on
  purpose. The parent also runs ``SELECT 1``, as an app that queries at boot
  would, and gives the connection back, so the pool keeps one open Postgres
  session. Nothing is reset after fork, so every child (and every child's
  child) finds that same socket in its inherited pool and uses it while its
  siblings do too: their queries and replies interleave on one session.
  Without SSL, a process reads replies meant for another (or waits forever
  for one another process took: hence ``connlab_twin.unsafe_conn`` on this
  engine); with SSL, the copies of the TLS state disagree (sequence numbers)
  and records fail to decrypt.
"""

from __future__ import annotations

import os
import sys

from sqlalchemy import Engine, text

from connlab_twin import config, db, errors, per_process, unsafe_conn

_prefork: Engine | None = None
#: The pid that called ``after_fork()``: the pool of ``_prefork`` is its own.
_own_pid = 0


def build_before_fork(settings: config.Database) -> None:
    """In the parent: build the engine children inherit; if unsafe, connect too.

    If the boot query fails (Postgres down or full), the process still starts:
    one line goes to stderr and the engine stays, empty, so the children then
    share an engine object but open their own connections.
    """
    global _prefork
    engine = db.make_engine(
        settings.url,
        group=settings.group,
        pool_size=settings.pool,
        checkout_timeout_s=settings.checkout_timeout_s,
    )
    _prefork = engine
    if settings.fork_safety == "safe":
        return
    unsafe_conn.install(engine)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        print(
            f"connlab_twin: boot query failed, no connection to inherit: "
            f"{errors.class_name(exc)}: {errors.first_line(exc)}",
            file=sys.stderr,
            flush=True,
        )


def after_fork() -> None:
    """In a fork-safe child: let go of every inherited pool, parent's connections untouched."""
    global _own_pid
    if _prefork is not None:
        _prefork.dispose(close=False)
    per_process.reset_all()
    _own_pid = os.getpid()


def engine() -> Engine:
    """The engine for this process's queries.

    The one built before fork if any (shared with the parent if unsafe), else
    this process's own pool, built on first use.
    """
    if _prefork is not None:
        return _prefork
    return db.engine.get()


def close_own() -> None:
    """Close the connections this very process opened, if it owns its pool.

    For a short-lived child (an RQ work horse) about to ``os._exit``: its
    connections end with a proper Terminate message instead of a dropped
    socket. Never touches a pool shared with the parent (fork unsafe).
    """
    if _prefork is not None and _own_pid == os.getpid():
        _prefork.dispose()
    own = db.engine.built_here()
    if own is not None:
        own.dispose()

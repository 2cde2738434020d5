"""The SQLAlchemy engine (one connection pool) and the one query the app runs.

The pool is a plain QueuePool with ``max_overflow=0``, so a process never
holds more than ``pool_size`` Postgres connections, opens them only when a
thread first needs one, and keeps them open afterwards. A thread that finds
the pool empty waits ``pool_timeout`` seconds, then gets
``sqlalchemy.exc.TimeoutError``: the pool-timeout error the harness counts.
Every connection carries ``application_name`` = CONNLAB_GROUP so the harness
can count connections per process group in ``pg_stat_activity``.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, make_url, text

from connlab_twin import config, unsafe_conn
from connlab_twin.per_process import PerProcess

_PG_SLEEP = text("SELECT pg_sleep(:seconds)")


def make_engine(url: str, *, group: str, pool_size: int, checkout_timeout_s: float) -> Engine:
    """An engine over psycopg 3 for ``url`` (a ``postgresql://`` URL).

    No connection is opened here: QueuePool connects on first checkout.
    """
    return create_engine(
        make_url(url).set(drivername="postgresql+psycopg"),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=checkout_timeout_s,
        connect_args={"application_name": group},
    )


def pg_sleep(engine: Engine, ms: float) -> None:
    """Check a connection out, run ``SELECT pg_sleep(ms/1000.0)``, give it back.

    The reply budget only binds the fork-unsafe engine's connections
    (``connlab_twin.unsafe_conn``); other connections ignore it.
    """
    with unsafe_conn.replies_within(ms / 1000.0 + unsafe_conn.SLACK_S), engine.connect() as conn:
        conn.execute(_PG_SLEEP, {"seconds": ms / 1000.0})


def _process_engine() -> Engine:
    settings = config.database()
    return make_engine(
        settings.url,
        group=settings.group,
        pool_size=settings.pool,
        checkout_timeout_s=settings.checkout_timeout_s,
    )


def _forget(engine: Engine) -> None:
    # After fork: drop the parent's pool without closing its connections.
    engine.dispose(close=False)


#: The pool of this process (a gunicorn worker or a dramatiq worker process):
#: pool_size=CONNLAB_POOL, application_name=CONNLAB_GROUP.
engine: PerProcess[Engine] = PerProcess(_process_engine, _forget)

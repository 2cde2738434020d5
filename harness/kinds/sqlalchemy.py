"""SQLAlchemy's QueuePool on Postgres: a gunicorn web process of the Python twin, a dramatiq worker.

Per process of T threads and a pool of S with max_overflow O (``create_engine(pool_size=S, max_overflow=O)``)::

    expected = min(T, S + O)     a thread holds at most one connection, for its request
    worst    = S + O             every slot filled

A fork-unsafe master (the engine connects before gunicorn forks, and its connection is shared): each broken
connection is replaced at once, and Postgres counts the broken one until its backend exits, just after the
replacement is authorized. Per dyno of P processes::

    expected = P x min(T, S)     worst = 1 + 2 x P x S  (the shared one + every slot replaced while its
                                                         predecessor still counts)

Measured: fork-unsafe in CI: 6 steady, a transient 8 = 2 dying + 6 new (51.284-.302 s); baseline, autoscale and
the pool scenarios of the twin: ``harness.predict``'s docstring.
"""

from __future__ import annotations

from harness.kinds.demand import Demand, counted, holding

#: What the report and the demo call a pool of this kind.
TITLE = "SQLAlchemy"


def pool_postgres(*, threads: int, size: int, overflow: int = 0, holders: str = "thread") -> Demand:
    """Postgres connections of one process whose ``threads`` share a QueuePool (module docstring)."""
    slots = size + overflow
    who = holding(threads, holders)
    pool = f"pool {size}" if not overflow else f"{size} + {overflow}"
    return Demand(expected=min(threads, slots), worst=slots, formula=f"min({who}, {pool})")


def preloaded_unsafe_postgres(*, processes: int, threads: int, size: int) -> Demand:
    """One dyno of ``processes`` forked from a master whose engine connected first (module docstring)."""
    held = min(threads, size)
    return Demand(expected=processes * held, worst=1 + 2 * processes * size,
                  formula=f"{processes} x min({counted(threads, 'thread')}, pool {size}); "
                          f"1 + 2 x {processes} x {size}: the shared one + every slot replaced while the broken one "
                          "still counts")

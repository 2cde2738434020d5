"""A one-off process on Postgres (a rake task, a console, ``manage.py`` command, a cron job): one connection.

A one-off runs one thing at a time in one thread, so whatever its pool says, it holds::

    expected = worst = 1     (0 when it opens no pool)

The scenarios' ``extras`` (bursts of one-offs, ``harness.predict``) count ``count x connections`` each instead:
there the scenario says what each holds (``rake-and-console``). The one-off's 1 is read from how one runs, not
measured here.
"""

from __future__ import annotations

from harness.kinds.demand import Demand

#: What the report and the demo call a process of this kind.
TITLE = "one-off"


def postgres(pool: Demand) -> Demand:
    """A one-off whose pool, as a long-running process, would hold ``pool``: at most 1 (module docstring)."""
    return Demand(expected=min(pool.expected, 1), worst=min(pool.worst, 1), formula="one-off: 1 connection")

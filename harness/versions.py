"""Versions: what a stack runs, and the few facts of them the arithmetic depends on.

Two facts decide formulas (``harness.predict``):

* **How a Rails request holds its connection** (``checkout``). Up to Rails 7.1
  the first query leases the thread a connection, kept until the request ends
  (the executor's ``clear_active_connections!``): ``"request"``. From 7.2 a
  model query runs in ``with_connection`` and gives the connection back when it
  returns: ``"query"``. The Python twin's ``/db`` checks out per query, as a
  SQLAlchemy ``engine.connect()`` block does: ``"query"``.
* **Sidekiq's major version** (``sidekiq_major``): 6 sizes its server pool
  concurrency + 5; 7 gives each capsule a pool of its concurrency plus an
  internal pool of 10.

Until a stack has answered, a prediction uses what the backend is known to run
(``ASSUMED``: Debian bookworm's packages locally, the trixie images in docker);
``connlab run`` predicts again with what the stack reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from harness.resources.limits import LIMITS

Checkout = Literal["request", "query"]

#: the apps' parts in the order a line of versions shows them, before the servers' (each limits kind's
#: ``version_keys``, in the registry's order)
APPS_ORDER = ("rails", "puma", "sidekiq", "python", "gunicorn", "sqlalchemy", "dramatiq", "rq")

#: What each backend runs when nothing was asked (Debian bookworm on the host; the trixie images in docker).
ASSUMED: dict[tuple[str, str], dict[str, str]] = {
    ("rails", "local"): {"rails": "6.1", "sidekiq": "6.4"},
    ("rails", "docker"): {"rails": "7.2", "sidekiq": "7.3"},
    ("python", "local"): {},
    ("python", "docker"): {},
}


def major_minor(version: str | None) -> tuple[int, int] | None:
    """``"7.2.2"`` -> (7, 2); None when absent or unreadable."""
    if not version:
        return None
    found = re.match(r"(\d+)(?:\.(\d+))?", version)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2) or 0)


def assumed(app: str, backend: str) -> dict[str, str]:
    return dict(ASSUMED.get((app, backend), {}))


def checkout(app: str, versions: Mapping[str, str]) -> Checkout:
    """How long a web request holds its database connection: the whole request, or each query."""
    if app != "rails":
        return "query"
    rails = major_minor(versions.get("rails"))
    return "query" if rails is not None and rails >= (7, 2) else "request"


def sidekiq_major(versions: Mapping[str, str]) -> int:
    found = major_minor(versions.get("sidekiq"))
    return found[0] if found is not None else 6


def describe(versions: Mapping[str, str]) -> str:
    """One line: ``rails 7.2.2, puma 6.6.0, ...`` in a fixed order, the rest after."""
    order = (*APPS_ORDER, *(key for kind in LIMITS.values() for key in kind.version_keys))
    keys = [k for k in order if k in versions] + sorted(k for k in versions if k not in order)
    return ", ".join(f"{k} {versions[k]}" for k in keys)

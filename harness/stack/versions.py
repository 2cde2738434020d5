"""Read what a running stack runs: the servers' own answers and the app's ``GET /versions``.

Postgres answers ``SHOW server_version``, Valkey ``INFO server``
(``valkey``: its ``valkey_version``; a Redis: ``redis``), each through the harness's admin
connection; the app answers on its first live dyno. A part that does not answer
is left out (the prediction then keeps what the backend is assumed to run).
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis import Redis

    from harness.stack.postgres import AdminConnection

TIMEOUT_S = 5.0


def read_versions(*, targets: list[str], postgres: AdminConnection, redis: Redis) -> dict[str, str]:
    """The app's answer on the first of ``targets``, and the two servers' over the harness's admin connections."""
    found: dict[str, str] = {}
    if targets:
        with contextlib.suppress(OSError, ValueError), \
                urllib.request.urlopen(f"{targets[0]}/versions", timeout=TIMEOUT_S) as reply:  # noqa: S310
            app = json.loads(reply.read())
            if isinstance(app, dict):
                found.update({str(k): str(v) for k, v in app.items()})
    with contextlib.suppress(Exception):
        rows = postgres.execute("SHOW server_version")
        found["postgres"] = str(rows[0][0]).split()[0]
    with contextlib.suppress(Exception):
        info = redis.info("server")
        if info.get("valkey_version"):
            found["valkey"] = str(info["valkey_version"])
        elif info.get("redis_version"):
            found["redis"] = str(info["redis_version"])
    return found

"""A pool checked out per query, not per request: Rails >= 7.2 (``harness.versions.checkout``) and the twin's
SQLAlchemy session, both on Postgres.

With ``work_ms`` of work outside the database beside ``query_ms`` in it, a thread holds a connection only
``q / (q + w)`` of the time. Per process of T threads and a pool of S::

    expected = max(1, min(T, S, ceil(T x q / (q + w))))     worst = S

A bound, not a prediction: how many queries ever overlap depends on how the requests arrive (users Locust
spawns in one instant query together), so a run lands between this and min(T, S).

Which one holds its connection how (``harness.versions.checkout``: what the stack reported, else what the
backend is assumed to run):

    Rails <= 7.1   a request leases its connection at the first query and keeps
                   it to the end of the request, ``work_ms`` included (the
                   executor's clear_active_connections!): web as above
    Rails >= 7.2,  a query checks the connection out and gives it back (Rails
    the twin       7.2 runs model queries in with_connection; the twin's /db is
                   an engine.connect() block). With work_ms > 0 (q = query_ms,
                   w = work_ms) a thread is in a query q / (q + w) of its time:
                   expected = P x max(1, min(T, S, ceil(T x q / (q + w)))), the
                   mean number of threads in a query, what is sure to open;
                   worst = P x S. Load-dependent: the peak is how many queries
                   ever overlap (measured below). With work_ms = 0 the
                   request is its query, and the formula is the one above.

Measured: 1 process x 4 threads, pool 4, /db?ms=100&work_ms=400 with the pool's
checkout log: Rails 6.1 held each connection 504 ms, Rails 7.2 100 ms.
``connlab run rails-checkout`` (2 x 1 x 8, pool 8, 20 ms queries, ~480 ms work,
capacity 12): Rails 6.1.7 peak 12 of 12 with 58 and 434 refusals; Rails 7.2.2
(``--backend docker``) 6 and 8, no refusal. Five staggered clients on a warm
7.2 dyno hold 1 connection. What raises the 7.2 peak is queries that start
together: Locust spawns ``spawn_rate`` users at one instant, and with one fixed
work time they would stay in step the whole run (7 with capacity 20 before the
traffic drew each request's work at random).
"""

from __future__ import annotations

import math

from harness.kinds.demand import Demand


def pool_postgres(*, threads: int, pool: int, query_ms: float, work_ms: float) -> Demand:
    """Postgres connections of one process whose threads check a connection out per query (module docstring)."""
    held = min(threads, pool)
    if work_ms > 0:
        held = max(1, min(held, math.ceil(threads * query_ms / (query_ms + work_ms))))
    return Demand(expected=held, worst=pool,
                  formula=f"min({threads} threads, pool {pool}, ceil(T x {query_ms:g} / ({query_ms:g} + "
                          f"{work_ms:g}))) = {held}: checked out per query")

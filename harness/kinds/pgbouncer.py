"""pgbouncer between the apps and Postgres: one instance's two sides, as pure functions.

The client side is what the apps open against the instance: the sum of the
pools of every process that connects through it, which is what Postgres
would have seen without a pooler (the kinds' own Postgres formulas)::

    clients  = sum of the pools behind the instance          (against max_client_conn, per instance)

The server side is what the instance opens to Postgres, per pool (one per
database and user; connlab's apps use one of each). In transaction mode a
server connection is lent for one transaction and returned, so the pool
holds only the transactions in flight at one instant; in session mode it is
lent for the client's whole session, so there is no multiplexing::

    transaction  expected = min(B, default_pool_size)      B: the clients busy in a transaction at once
                 worst    = min(clients, default_pool_size + reserve_pool_size)
    session      expected = min(clients, default_pool_size)
                 worst    = min(clients, default_pool_size + reserve_pool_size)
    both         capped at max_db_connections when it is above 0
    Postgres     = the instances' server sides, summed        (against its capacity)

The reserve pool opens only after a client has waited ``reserve_pool_timeout``
(5 s by default), so it is in the worst case, never the expected one. A
server connection stays open ``server_idle_timeout`` (600 s) once made, so the
peak is the most ever in flight, not the mean.

Measured (pgbouncer 1.18, Postgres 18, 8 psycopg clients each running
``select pg_sleep(0.3)`` in a loop for 3 s; Postgres' peak from
pg_stat_activity, the client peak from ``SHOW CLIENTS``, every 100 ms):
transaction mode, pool 3: server 3, clients 8 (35 queries: the others
waited); session mode, pool 3: server 3, clients 8 (33 queries: five clients
waited for a session to end); session mode, pool 20: server 8 = clients, 77
queries.

Its own limits, as psycopg meets them (the same runs): ``max_client_conn 4``
with 6 clients and the harness's admin console connection open gave 3 app
clients and ``OperationalError: ... FATAL: no more connections allowed
(max_client_conn)`` for the others (the console's connection counts against
max_client_conn, so the harness needs a slot of its own, as on Postgres);
pool 1, ``query_wait_timeout 1`` and 3 clients running 2 s queries gave
``OperationalError: query_wait_timeout`` to the two that waited.
"""

from __future__ import annotations

from harness.kinds.demand import Demand

__all__ = ["TITLE", "server_side"]

#: What the report calls the instance's server connections.
TITLE = "pgbouncer"


def _capped(value: int, max_db_connections: int) -> int:
    return min(value, max_db_connections) if max_db_connections > 0 else value


def server_side(*, pool_mode: str, clients: int, busy: int, default_pool_size: int, reserve_pool_size: int = 0,
                max_db_connections: int = 0) -> Demand:
    """One instance's server connections to Postgres for ``clients`` client connections of which ``busy`` are in
    a transaction at one instant (module docstring). ``pool_mode``: "transaction" or "session"."""
    if pool_mode not in ("transaction", "session"):
        raise ValueError(f"pool_mode is transaction or session, not {pool_mode!r}")
    pool, reserve = default_pool_size, reserve_pool_size
    held = busy if pool_mode == "transaction" else clients
    expected = _capped(min(held, pool), max_db_connections)
    worst = _capped(min(clients, pool + reserve), max_db_connections)
    who = f"{busy} busy" if pool_mode == "transaction" else f"{clients} clients"
    formula = f"{pool_mode} mode: min({who}, pool {pool})"
    if worst != expected:
        formula += f" .. min({clients} clients, pool {pool} + reserve {reserve})"
    if max_db_connections > 0 and min(held, pool) > max_db_connections:
        formula += f", capped at max_db_connections {max_db_connections}"
    return Demand(kind=TITLE, expected=expected, worst=max(worst, expected), formula=formula)

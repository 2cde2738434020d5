"""``harness.kinds.pgbouncer``: one instance's server side, with hand-computed figures."""

from __future__ import annotations

import pytest

from harness.kinds.pgbouncer import server_side


@pytest.mark.parametrize(("mode", "clients", "busy", "pool", "reserve", "cap", "hand"), [
    ("transaction", 8, 8, 3, 0, 0, (3, 3)),     # measured: 8 busy clients, pool 3 -> 3
    ("session", 8, 8, 3, 0, 0, (3, 3)),         # measured: the five others wait for a session to end
    ("session", 8, 8, 20, 0, 0, (8, 8)),        # measured: no multiplexing, 8 = clients
    ("transaction", 30, 6, 20, 0, 0, (6, 20)),  # 6 in flight of 30 clients; every client at once: the pool, 20
    ("transaction", 6, 6, 1, 1, 0, (1, 2)),     # Heroku's per-dyno defaults: pool 1, reserve 1
    ("transaction", 40, 40, 20, 5, 10, (10, 10)),  # max_db_connections caps both
    ("session", 2, 2, 20, 5, 0, (2, 2)),        # fewer clients than the pool: the clients
])
def test_the_server_side_by_mode(mode: str, clients: int, busy: int, pool: int, reserve: int, cap: int,
                                 hand: tuple[int, int]) -> None:
    demand = server_side(pool_mode=mode, clients=clients, busy=busy, default_pool_size=pool,
                         reserve_pool_size=reserve, max_db_connections=cap)
    assert (demand.expected, demand.worst) == hand
    assert demand.formula.startswith(f"{mode} mode: ") and demand.kind == "pgbouncer"


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="transaction or session"):
        server_side(pool_mode="statement", clients=1, busy=1, default_pool_size=1)

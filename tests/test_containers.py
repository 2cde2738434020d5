"""Postgres 17 and Valkey as containers: the plan's limits exactly (the harness's slot apart), exact log replays,
a restart, and nothing left with the run's label. Skipped, saying why, where no Docker engine answers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from harness.resources.postgres.container import PostgresContainer
from harness.resources.postgres.log import replay_postgres_log
from harness.resources.redis.container import RedisContainer
from harness.resources.redis.log import final_read, replay_redis_log
from harness.stack.containers import RUN_LABEL, remove_labelled

#: starts real servers, apps, Locust or the Docker engine (pytest -m "not e2e" leaves it out)
pytestmark = pytest.mark.e2e


@pytest.fixture
def run_id(client: Any) -> Iterator[str]:
    run = uuid.uuid4().hex
    yield run
    left = remove_labelled(client, run)
    assert left == [], f"left behind: {left}"


def test_postgres_container_gives_the_apps_exactly_the_plans_slots(client: Any, run_id: str, tmp_path: Path) -> None:
    with PostgresContainer(client=client, run_id=run_id, run_dir=tmp_path, max_connections=5,
                           superuser_reserved_connections=2) as pg:
        assert pg.admin.execute("show max_connections") == [("6",)]  # 5 + the harness's own
        version = pg.admin.execute("show server_version")[0][0]
        held = [psycopg.connect(pg.app_url + "?application_name=web.1") for _ in range(3)]
        with pytest.raises(psycopg.OperationalError, match="reserved for roles with the SUPERUSER"):
            psycopg.connect(pg.app_url + "?application_name=web.1")
        for conn in held:
            conn.close()
        down_s = pg.restart()
        psycopg.connect(pg.app_url + "?application_name=web.2").close()
        labels = client.containers.get(pg.container.id).labels
    assert str(version).startswith("17.") and labels[RUN_LABEL] == run_id
    print(f"restart: down {down_s:.1f} s")
    exact = replay_postgres_log(tmp_path / "postgres.log")
    assert (exact.total, exact.rejected) == (3, 1)
    assert exact.by_group == {"web.1": 3, "web.2": 1}


def test_valkey_container_gives_the_apps_exactly_maxclients(client: Any, run_id: str, tmp_path: Path) -> None:
    with RedisContainer(client=client, run_id=run_id, run_dir=tmp_path, maxclients=4) as server:
        clients = [redis.Redis(port=server.host_port, password=server.password, client_name="worker.1",
                               retry=None) for _ in range(4)]
        for each in clients:
            each.ping()
        with pytest.raises(redis.RedisError, match="max number of clients reached"):
            redis.Redis(port=server.host_port, password=server.password, client_name="web.1", retry=None).ping()
        final = final_read(server.admin)
        for each in clients:
            each.close()
    exact = replay_redis_log(tmp_path / "redis.log", maxclients=5, final_clients=final.clients, kills=())
    assert (exact.total, exact.by_group, exact.rejected) == (4, {"worker.1": 4}, 1)
    assert final.rejected == 1

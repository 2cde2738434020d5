"""The docker backend's images: the offline base, cached builds, Postgres 17 and Valkey configured per run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

from harness.stack.images import ensure_image

#: starts real servers, apps, Locust or the Docker engine (pytest -m "not e2e" leaves it out)
pytestmark = pytest.mark.e2e


@pytest.fixture
def run_label(client: Any) -> Iterator[dict[str, str]]:
    label = {"connlab.run": str(uuid.uuid4())}
    yield label
    mine = {"label": f"connlab.run={label['connlab.run']}"}
    left = client.containers.list(all=True, ignore_removed=True, filters=mine)
    for container in left:
        container.remove(force=True)
    assert not left, f"containers left behind: {[c.name for c in left]}"


def _port(container: Any, port: str) -> int:
    container.reload()
    return int(container.ports[port][0]["HostPort"])


def _wait(check: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return check()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_images_build_once_and_take_their_settings_per_run(client: Any, run_label: dict[str, str]) -> None:
    said: list[str] = []
    images = {name: ensure_image(client, name, said.append) for name in ("postgres", "valkey")}
    for name, first in images.items():
        assert client.images.get(first.tag).labels.get("connlab") == "1"
        again = ensure_image(client, name, said.append)
        assert again.tag == first.tag and not again.built
        print(f"the second build call: {again.seconds:.2f} s")
    if any(image.built for image in images.values()):
        assert any("Step 1/" in line for line in said), said

    postgres = valkey = None
    try:
        postgres = client.containers.run(
            images["postgres"].tag, ["-c", "max_connections=5", "-c", "superuser_reserved_connections=2",
                                     "-c", "log_connections=on", "-c", "log_line_prefix=%m [%p] "],
            environment={"CONNLAB_POSTGRES_PASSWORD": "pg-secret"},
            detach=True, labels=run_label, ports={"5432/tcp": ("127.0.0.1", None)})
        valkey = client.containers.run(
            images["valkey"].tag, ["--maxclients", "3", "--loglevel", "verbose", "--hide-user-data-from-log", "no",
                                   "--log-timestamp-format", "milliseconds", "--enable-debug-command", "local"],
            environment={"CONNLAB_REDIS_PASSWORD": "redis-secret"},
            detach=True, labels=run_label, ports={"6379/tcp": ("127.0.0.1", None)})
        dsn = f"host=127.0.0.1 port={_port(postgres, '5432/tcp')} user=postgres dbname=postgres connect_timeout=2"
        # the password is asked, and only the right one admits (the published port reaches every local user)
        with _wait(lambda: psycopg.connect(dsn + " password=pg-secret", autocommit=True)) as conn:
            assert conn.execute("show max_connections").fetchone() == ("5",)
            version = conn.execute("show server_version").fetchone()
        assert version is not None and str(version[0]).startswith("17."), version
        assert "connection authorized" in _wait(lambda: _require(postgres, "connection authorized"))
        for guess in ("", " password=postgres"):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(dsn + guess)
        # the entrypoint execs the server without the password in its environment
        assert b"CONNLAB_POSTGRES_PASSWORD" not in postgres.exec_run(["cat", "/proc/1/environ"]).output

        server = redis.Redis(host="127.0.0.1", port=_port(valkey, "6379/tcp"), password="redis-secret",
                             socket_timeout=2.0)
        try:
            assert _wait(lambda: server.config_get("maxclients")) == {"maxclients": "3"}
            stranger = redis.Redis(host="127.0.0.1", port=_port(valkey, "6379/tcp"), socket_timeout=2.0)
            with pytest.raises(redis.AuthenticationError):
                stranger.ping()
            stranger.close()
            assert b"CONNLAB_REDIS_PASSWORD" not in valkey.exec_run(["cat", "/proc/1/environ"]).output
            info = server.info("server")
        finally:
            server.close()
        print(f"Postgres {version[0]}, {info.get('server_name', 'redis')} "
              f"{info.get('valkey_version') or info.get('redis_version')}")
    finally:
        for container in (postgres, valkey):
            if container is not None:
                container.remove(force=True)


def _require(container: Any, text: str) -> str:
    logs = container.logs().decode(errors="replace")
    if text not in logs:
        raise AssertionError(f"{text!r} not yet in the log")
    return str(logs)

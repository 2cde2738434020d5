"""Postgres 17 and Valkey as containers, for the docker backend: the servers of ``postgres.py`` and ``redis.py``.

Each is a context manager with the same face as its local twin: ``start``
(readiness named, with a timeout), ``stop`` (always, even after a failed start),
``restart`` for Postgres, ``admin`` (the harness's one connection, which has a
slot of its own: ``max_connections + 1``, ``maxclients + 1``), and ``log_path``
(the container's whole output, restarts included, saved into the run folder
when it stops, so the same log replays give exact peaks). Ports are published on 127.0.0.1 only; every container
carries the run's label (``connlab.run``), and ``remove_labelled`` removes
whatever a run left, whichever way it ended.

Both ask for passwords, new per container (``harness.stack.credentials``),
given to the image's entrypoint in its environment (``CONNLAB_POSTGRES_PASSWORD``,
``CONNLAB_REDIS_PASSWORD``), which unsets them before it execs the server: a
published port on 127.0.0.1 reaches any local user, so nothing is trusted.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ComponentDied, StartTimeout
from harness.ground.process import free_port
from harness.stack.credentials import new_password
from harness.stack.images import ensure_image
from harness.stack.postgres import (
    ADMIN_NAME,
    APP_DATABASE,
    APP_ROLE,
    SUPERUSER,
    AdminConnection,
    create_app_database,
    server_settings,
    setting_args,
)
from harness.stack.redis import admin_client, answers, server_args

if TYPE_CHECKING:
    import docker

RUN_LABEL = "connlab.run"
READY_TIMEOUT_S = 30.0
POLL_S = 0.1
STOP_TIMEOUT_S = 5


def remove_labelled(client: docker.DockerClient, run_id: str) -> list[str]:
    """Remove every container and network carrying ``connlab.run=run_id``; return their names."""
    gone = []
    for container in client.containers.list(all=True, ignore_removed=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)
            gone.append(str(container.name))
    for network in client.networks.list(filters={"label": f"{RUN_LABEL}={run_id}"}):
        with contextlib.suppress(Exception):
            network.remove()
            gone.append(str(network.name))
    return gone


def last_lines(container: Any) -> list[str]:
    """A container's last 8 lines of output; none for one that is gone."""
    try:
        return bytes(container.logs(tail=8)).decode(errors="replace").splitlines()
    except Exception:  # noqa: BLE001 - a removed container has no last lines
        return []


def wait_ready(container: Any, *, name: str, ready: Callable[[], bool], strategy: str, timeout_s: float) -> None:
    """Poll ``ready`` every ``POLL_S``. A container that exits first raises ``ComponentDied``, one not ready
    within ``timeout_s`` ``StartTimeout``; both carry its name, and the timeout the wait, and its last lines."""
    began = time.monotonic()
    while not ready():
        container.reload()
        if container.status == "exited":
            raise ComponentDied(name, container.attrs["State"]["ExitCode"], last_lines(container))
        if time.monotonic() - began > timeout_s:
            raise StartTimeout(name, time.monotonic() - began, strategy, last_lines(container))
        time.sleep(POLL_S)


class _Container:
    """One server container: started from a cached image, its output followed into ``log_path``."""

    name: str
    image: str
    port: str

    def __init__(self, *, client: docker.DockerClient, run_id: str, run_dir: Path,
                 say: Any = lambda _: None) -> None:
        self.client = client
        self.run_id = run_id
        self.log_path = run_dir / f"{self.name}.log"
        self.say = say
        self.container: Any = None
        # a port of our choosing, not the engine's: a restarted container keeps it, so the apps find it again
        self.host_port = free_port()

    def _args(self) -> list[str]:
        raise NotImplementedError

    def _environment(self) -> dict[str, str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _run(self) -> None:
        tag = ensure_image(self.client, self.image, self.say).tag
        self.container = self.client.containers.run(
            tag, self._args(), environment=self._environment(), detach=True, labels={RUN_LABEL: self.run_id},
            name=f"connlab-{self.run_id[:12]}-{self.name}", ports={self.port: ("127.0.0.1", self.host_port)})

    def _wait_ready(self, strategy: str) -> None:
        wait_ready(self.container, name=self.name, ready=self._ready, strategy=strategy, timeout_s=READY_TIMEOUT_S)

    def _stop_container(self) -> None:
        """Stop, save the whole output (the engine keeps it across restarts) into ``log_path``, remove."""
        if self.container is not None:
            with contextlib.suppress(Exception):
                self.container.stop(timeout=STOP_TIMEOUT_S)
            with contextlib.suppress(Exception):
                self.log_path.write_bytes(bytes(self.container.logs()))
            with contextlib.suppress(Exception):
                self.container.remove(force=True, v=True)
            self.container = None


class PostgresContainer(_Container):
    """Postgres 17 (Debian trixie) in a container, set as the plan says, logging every connection."""

    name = "postgres"
    image = "postgres"
    port = "5432/tcp"

    def __init__(self, *, max_connections: int, superuser_reserved_connections: int, **kwargs: Any) -> None:
        self.max_connections = max_connections
        self.superuser_reserved_connections = superuser_reserved_connections
        super().__init__(**kwargs)
        self.superuser_password = new_password()
        self.app_password = new_password()
        self.admin = AdminConnection(self.superuser_dsn(ADMIN_NAME))

    def superuser_dsn(self, application_name: str) -> str:
        return (f"host=127.0.0.1 port={self.host_port} user={SUPERUSER} password={self.superuser_password} "
                f"dbname=postgres application_name={application_name} connect_timeout=2")

    @property
    def app_url(self) -> str:
        return f"postgresql://{APP_ROLE}:{self.app_password}@127.0.0.1:{self.host_port}/{APP_DATABASE}"

    def _environment(self) -> dict[str, str]:
        return {"CONNLAB_POSTGRES_PASSWORD": self.superuser_password}

    def _args(self) -> list[str]:
        return setting_args(server_settings(max_connections=self.max_connections,
                                            superuser_reserved_connections=self.superuser_reserved_connections))

    def _ready(self) -> bool:
        return self.admin.ping()

    def start(self) -> None:
        try:
            self._run()
            self._wait_ready("SQL select 1")
            create_app_database(self.admin, password=self.app_password)
        except BaseException:
            self.stop()
            raise

    def restart(self) -> float:
        """Fast shutdown (every backend ends) and start again, same data and port; return seconds down."""
        began = time.monotonic()
        self.container.restart(timeout=STOP_TIMEOUT_S)
        self._wait_ready("SQL select 1")
        return time.monotonic() - began

    def stop(self) -> None:
        self.admin.close()
        self._stop_container()

    def __enter__(self) -> PostgresContainer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisContainer(_Container):
    """Valkey (Debian trixie) in a container, with the verbose log the exact replay reads."""

    name = "redis"
    image = "valkey"
    port = "6379/tcp"

    def __init__(self, *, maxclients: int, **kwargs: Any) -> None:
        self.maxclients = maxclients
        super().__init__(**kwargs)
        self.password = new_password()
        self.admin = admin_client(self.host_port, self.password)

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.host_port}/0"

    def _environment(self) -> dict[str, str]:
        return {"CONNLAB_REDIS_PASSWORD": self.password}

    def _args(self) -> list[str]:
        # from a published port no client is "local": DEBUG (for the log's markers) is enabled for all, the
        # port being published on 127.0.0.1 only
        return server_args(maxclients=self.maxclients, debug_command="yes")

    def _ready(self) -> bool:
        return answers(self.admin)

    def start(self) -> None:
        try:
            self._run()
            self._wait_ready("PING")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.admin.connection_pool.disconnect()
        self._stop_container()

    def __enter__(self) -> RedisContainer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Postgres 17 (Debian trixie) as a container, for the docker backend: the face of ``server.py``.

``start`` (readiness "SQL select 1", with a timeout), ``stop`` (always, even after a failed start),
``restart``, ``admin`` (the harness's one connection, which has a slot of its own: ``max_connections + 1``) and
``log_path`` (the container's whole output, saved at ``stop``). The superuser's password reaches the image's
entrypoint in ``CONNLAB_POSTGRES_PASSWORD``, which it unsets before it execs the server.
"""

from __future__ import annotations

import time
from typing import Any

from harness.resources.base import Place
from harness.resources.postgres.admin import ADMIN_NAME, SUPERUSER, AdminConnection, server_versions
from harness.resources.postgres.limits import NAME, PostgresLimits
from harness.resources.postgres.settings import (
    APP_DATABASE,
    APP_ROLE,
    create_app_database,
    server_settings,
    setting_args,
)
from harness.stack.containers import STOP_TIMEOUT_S, ServerContainer
from harness.stack.credentials import new_password


class PostgresContainer(ServerContainer):
    """Postgres 17 (Debian trixie) in a container, set as the plan says, logging every connection."""

    name = NAME
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

    @classmethod
    def for_limits(cls, limits: PostgresLimits, *, place: Place) -> PostgresContainer:
        return cls(client=place.engine, run_id=place.run_id, run_dir=place.run_dir, say=place.say,
                   max_connections=limits.max_connections,
                   superuser_reserved_connections=limits.superuser_reserved_connections)

    def versions(self) -> dict[str, str]:
        return server_versions(self.admin)

    @property
    def url(self) -> str:
        return self.app_url

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

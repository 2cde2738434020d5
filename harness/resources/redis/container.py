"""Valkey (Debian trixie) as a container, for the docker backend: the face of ``server.py``.

``start`` (readiness "PING"), ``stop`` (always), ``admin`` (the harness's one connection, a slot of its own:
``maxclients + 1``) and ``log_path`` (the container's whole verbose output, saved at ``stop``). The password
reaches the image's entrypoint in ``CONNLAB_REDIS_PASSWORD``, which it unsets before it execs the server.
"""

from __future__ import annotations

from typing import Any

from harness.resources.base import Place
from harness.resources.redis.admin import admin_client, answers, server_versions
from harness.resources.redis.limits import NAME, RedisLimits
from harness.resources.redis.settings import server_args
from harness.stack.containers import ServerContainer
from harness.stack.credentials import new_password


class RedisContainer(ServerContainer):
    """Valkey (Debian trixie) in a container, with the verbose log the exact replay reads."""

    name = NAME
    image = "valkey"
    port = "6379/tcp"

    def __init__(self, *, maxclients: int, **kwargs: Any) -> None:
        self.maxclients = maxclients
        super().__init__(**kwargs)
        self.password = new_password()
        self.admin = admin_client(self.host_port, self.password)

    @classmethod
    def for_limits(cls, limits: RedisLimits, *, place: Place) -> RedisContainer:
        return cls(client=place.engine, run_id=place.run_id, run_dir=place.run_dir, say=place.say,
                   maxclients=limits.maxclients)

    def versions(self) -> dict[str, str]:
        return server_versions(self.admin)

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

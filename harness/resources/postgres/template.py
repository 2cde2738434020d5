"""A local Postgres cluster from a template: initdb once per binary, a copy per run.

initdb is most of a local Postgres's start-up: here 0.65-1.06 s of a
0.85-1.32 s start (``PostgresServer.start``, three runs), and 2.6 s of a
fresh CI machine's 3.6 s stack. Nothing initdb writes depends on the plan:
max_connections and every other setting are given at start (``-c``), and the
apps' role and database are made per run. So the cluster initdb makes is kept
as a template and each run copies it (``cp -a``: 39 MB in 0.13 s here, against
0.92 s for initdb).

Where: ``$XDG_CACHE_HOME/connlab/postgres`` (``~/.cache/connlab/postgres``),
mode 0700, one folder per template keyed by the binary (its path, size and
mtime), the account the server runs as, initdb's arguments (``INITDB_ARGS``) and the pg_hba.conf:
a new venv or another Postgres gets its own. A template is published by a
rename, so a reader finds it whole or not at all, and two runs that race both
end with the one template. Where the cache cannot be written, every run
initdb's its own cluster, as before.

Credentials stay per run. The template's superuser has a password of its own,
in a 0600 file beside it that only the user who owns the cache can read. A run
starts its copy, connects with that password (readiness), and at once sets the
superuser's password to the run's new one (``ALTER ROLE``, never logged: the
server logs connections, not statements); from then on the template's password
admits nobody to that server.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.ground.registry import note_folder
from harness.privilege import Account, copy_in_a_child, drop_to
from harness.resources.postgres.admin import SUPERUSER, AdminConnection
from harness.stack.credentials import private_file, url_safe

__all__ = ["INITDB_ARGS", "Template", "cache_root", "initdb", "published", "publish", "set_superuser_password"]

#: initdb's arguments after ``-D DATA`` (the superuser and its password file are added): part of the key
INITDB_ARGS = ("--auth", "scram-sha-256", "--no-sync", "-E", "UTF8")
#: bump when what a template holds changes (the pg_hba.conf written into it, the layout of its folder)
FORMAT = 1
PASSWORD_FILE = "superuser-password"


@dataclass(frozen=True, kw_only=True)
class Template:
    """A published template: its data folder and its superuser's password."""

    data: Path
    password: str


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/connlab/postgres``, else ``~/.cache/connlab/postgres`` (a user with no home: a path that
    cannot be written, so no template)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            base = "/nonexistent"
    return Path(base) / "connlab" / "postgres"


def _key(bin_dir: Path, account: Account | None, hba: str) -> str:
    server = (bin_dir / "postgres").resolve()
    info = server.stat()
    parts = [str(FORMAT), str(server), str(info.st_size), str(info.st_mtime_ns),
             str(account.uid if account else os.geteuid()), SUPERUSER, *INITDB_ARGS, hba]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def initdb(bin_dir: Path, data: Path, *, password: str, account: Account | None) -> subprocess.CompletedProcess[str]:
    """Run initdb for ``data`` as ``account``, the superuser's password given in a 0600 file, removed after."""
    owner = (account.uid, account.gid) if account is not None else None
    pwfile = private_file(data.parent / f"pwfile-{os.getpid()}", password + "\n", owner=owner)
    try:
        return subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--pwfile", str(pwfile),
                               *INITDB_ARGS], capture_output=True, text=True, check=False, **drop_to(account))
    finally:
        pwfile.unlink(missing_ok=True)


def published(bin_dir: Path, account: Account | None, *, hba: str) -> Template | None:
    """The template for this binary and account, when one has been published."""
    folder = cache_root() / _key(bin_dir, account, hba)
    try:
        password = (folder / PASSWORD_FILE).read_text().strip()
    except OSError:
        return None
    data = folder / "data"
    return Template(data=data, password=password) if password and (data / "PG_VERSION").is_file() else None


def publish(data: Path, bin_dir: Path, account: Account | None, *, hba: str, password: str) -> None:
    """Copy a fresh cluster (initdb'd with ``password`` and ``hba``, never started) into the cache as the
    template; quietly nothing when the cache cannot be written or another run published it first."""
    root = cache_root()
    final = root / _key(bin_dir, account, hba)
    if final.exists():
        return
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    except OSError:
        return
    note_folder(staging)  # a run killed mid-copy leaves no half template: the reaper removes it
    try:
        copy_in_a_child(data, staging / "data")
        private_file(staging / PASSWORD_FILE, password + "\n")
        staging.rename(final)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def set_superuser_password(admin: AdminConnection, password: str) -> None:
    """The superuser's password becomes ``password`` (a run's own, URL-safe base64: no quoting needed)."""
    admin.execute(f"alter role {SUPERUSER} password '{url_safe(password)}'")

"""Per-run secrets: every server a run starts admits only the run's own parts.

Each Postgres and Valkey a run starts makes its passwords here, fresh per server
and never written to argv (which every local user can read in /proc): Postgres
gets its superuser's through ``initdb --pwfile`` (a 0600 file, removed after)
and the apps' role's over the harness's own connection; Valkey its
``requirepass`` from a 0600 config file. The apps get theirs inside
``CONNLAB_DATABASE_URL`` / ``CONNLAB_REDIS_URL``, in their environment, which
only their own user (and root) can read.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from harness.ground.registry import note_folder
from harness.privilege import Account

__all__ = ["new_password", "private_file", "server_folder", "url_safe"]

#: 24 random bytes: 32 URL-safe characters (letters, digits, - and _), so a password needs no quoting in a URL,
#: a libpq key=value string, SQL or a Valkey config line.
PASSWORD_BYTES = 24


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def url_safe(password: str) -> str:
    """``password`` when it is one ``new_password`` makes (URL-safe base64: safe inside a SQL literal), else
    ValueError."""
    if not password.replace("-", "").replace("_", "").isalnum():
        raise ValueError("a password is URL-safe base64 (harness.stack.credentials.new_password)")
    return password


def private_file(path: Path, text: str, *, owner: tuple[int, int] | None = None) -> Path:
    """Write ``text`` to a new file only its owner may read (``owner`` uid/gid, when given, else ours)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode())
        if owner is not None:
            os.fchown(fd, *owner)
    finally:
        os.close(fd)
    return path



def server_folder(prefix: str, account: Account | None) -> tuple[Path, tuple[int, int] | None]:
    """A new temporary folder for one server's files (its data, its secrets), the server user's when ``account``
    is given, recorded for the reaper (removed by a sweep if the run is killed); and the owner its files get."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    note_folder(folder)
    owner = (account.uid, account.gid) if account is not None else None
    if owner is not None:
        os.chown(folder, *owner)
    return folder, owner

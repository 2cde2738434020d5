"""The unprivileged account connlab runs servers and other people's code as, when it is itself root.

Postgres refuses to run as root, and nothing else connlab starts needs root
either: as root, Postgres, Valkey and ``connlab check``'s evaluation of an
app's ERB and Python config run as the system user ``connlab`` (created when
missing, no home, no shell). ``subprocess.Popen(user=...)`` alone changes only
the uid: the child keeps root's gid and supplementary groups (measured: ``id``
printed ``uid=999(connlab) gid=0(root) groups=0(root)``). ``drop_to`` gives
the uid, the user's own primary gid and no supplementary groups at all, and an
account whose primary group is root's is refused.

Not root: every function returns ``None`` and processes run as the caller.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import MissingDependency

__all__ = ["SERVICE_USER", "Account", "drop_to", "runs_as", "service_account"]

SERVICE_USER = "connlab"


@dataclass(frozen=True, kw_only=True)
class Account:
    """An unprivileged account: its name, uid and primary gid (never 0)."""

    name: str
    uid: int
    gid: int


def _create(name: str) -> None:
    # --user-group: a group of its own, never Debian's "users" or root's
    made = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
                           name], capture_output=True, text=True, check=False)
    if made.returncode != 0 and "already exists" not in made.stderr:
        raise MissingDependency(f"connlab runs servers as an unprivileged user when root, and `useradd {name}` "
                                f"failed ({made.stderr.strip()}); create a system user named {name}")


def service_account(name: str = SERVICE_USER) -> Account | None:
    """The account to run servers and app code as: ``connlab`` when we are root (created if needed), else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        _create(name)
        entry = pwd.getpwnam(name)
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        group = grp.getgrgid(entry.pw_gid).gr_name
        raise MissingDependency(f"the user {name} has uid {entry.pw_uid} and primary group {group}: connlab needs "
                                f"it unprivileged (`usermod -g {name} {name}`, or remove it and let connlab make it)")
    return Account(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def drop_to(account: Account | None) -> dict[str, Any]:
    """``subprocess.Popen`` keywords that run the child as ``account``: its uid, its gid, no other group."""
    if account is None:
        return {}
    return {"user": account.uid, "group": account.gid, "extra_groups": []}


def runs_as(program: Path, account: Account | None) -> bool:
    """Whether ``account`` can run ``program --version``: a venv under /root or in a 0700 folder is out of its
    reach (exec fails in the child, which subprocess raises as PermissionError in ours)."""
    try:
        probe = subprocess.run([str(program), "--version"], capture_output=True, check=False, timeout=30,
                               **drop_to(account))
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0

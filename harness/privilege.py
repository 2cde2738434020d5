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
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import MissingDependency

__all__ = ["SERVICE_USER", "Account", "copy_in_a_child", "drop_to", "reachable", "runs_as", "service_account"]

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


def _readable_by_all(root: Path) -> None:
    """Let every user read ``root``'s tree, enter its folders and run what its owner may run."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        executable = path.is_dir() or mode & 0o100
        path.chmod(mode | 0o044 | (0o011 if executable else 0))


def copy_in_a_child(source: Path, target: Path) -> None:
    """``cp -a source target`` (symlinks kept as links, modes and times kept); an OSError when it fails."""
    copied = subprocess.run(["cp", "-a", "--", str(source), str(target)], capture_output=True, text=True,
                            check=False)
    if copied.returncode != 0:
        raise OSError(f"cp -a {source} {target}: {copied.stderr.strip()[-300:]}")


def reachable(program: Path, account: Account | None, *, root: Path, parts: Sequence[Path], name: str) -> Path:
    """``program``, or the same file in a copy under the temporary folder when ``account`` cannot run it (a venv
    under /root or in a 0700 folder).

    The copy holds ``parts`` (files or folders, relative to ``root``, which holds ``program``) in the same layout,
    so what the program finds beside it (a wheel's libraries through ``RPATH $ORIGIN/...``) it finds in the copy.
    It is made readable by all (a copy keeps the source's modes: owner-only under a 077 umask), in a staging
    folder renamed into place, and kept, keyed by ``name`` and the program's mtime: later runs reuse it, and
    two runs that race both end with the one copy.

    The copy is made by ``cp``, never in this process: ``Stack.up`` starts the servers in threads, and a fork
    made by another thread while this process held a copied binary open for writing keeps that descriptor until
    its exec, so the exec of the copy fails with ETXTBSY ("Text file busy"; 8 of 300 copy-then-exec rounds with
    two threads spawning, 0 of 300 with ``cp``).
    """
    if account is None or runs_as(program, account):
        return program
    copy = Path(tempfile.gettempdir()) / f"connlab-{name}-{os.stat(program).st_mtime_ns}"
    if not copy.exists():
        staging = Path(tempfile.mkdtemp(prefix=f"connlab-{name}-"))
        try:
            for part in parts:
                source, target = root / part, staging / part
                target.parent.mkdir(parents=True, exist_ok=True)
                copy_in_a_child(source, target)
            _readable_by_all(staging)
            staging.rename(copy)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not copy.exists():  # not a concurrent run that got there first
                raise
    return copy / program.relative_to(root)

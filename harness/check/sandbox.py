"""Run an app's own code apart, for ``connlab check``'s readers: ``read_rails.rb`` (database.yml's ERB, puma.rb ...)
and ``gunicorn_eval.py`` (gunicorn.conf.py) run through ``Sandbox.run``.

- As root, the code runs as the unprivileged ``connlab`` user (``harness.privilege``: its own uid and gid, no other
  group), on a copy of the app that user can read (``copy_app``: what the reader says its files may read, bounded,
  nothing followed outside the app), with its working directory in the copy and ``HOME`` in a folder of its own
  beside it. The copy sits in a temporary folder (in /dev/shm when there is one: memory is fast) that only root and
  that user can enter, owned by root and read-only to the user; it is removed at the end. connlab's own script
  is copied there too, and a Python the user can run is chosen (``python``: not a pyenv under a 0700 /root).
  ``unmap`` turns the copy's paths in what the code printed back into the app's own, so the readers' output is
  the same as in place (relative paths and lines do not change: the files are copied as they are).
- Not root: in place, as the caller, as before.
- Either way the process gets a session and process group of its own, its stdin, stdout and stderr are files
  (never pipes: a child it leaves behind cannot hold check up), connlab waits for that process alone (at most
  the timeout), then kills its whole group (SIGKILL), then reads the files. The process is reaped only after the
  kill, so its group id cannot have been reused by then. A child that leaves the group on purpose (``setsid``,
  ``Process.daemon``) is not followed: that would take a cgroup.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.errors import MissingDependency
from harness.privilege import Account, drop_to, service_account

#: folders an evaluation never needs (VCS, dependencies, build output, runtime data); ``vendor/bundle`` by path
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "tmp", "log", "storage", "public", ".venv", "venv",
                       "__pycache__", ".bundle", ".cache", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox",
                       "coverage", "test", "tests", "spec", "doc", "docs", "migrations"})
SKIP_PATHS = frozenset({"vendor/bundle", "vendor/cache"})
MAX_FILE_BYTES = 1_000_000
MAX_FILES = 2_000
MAX_TOTAL_BYTES = 20_000_000
#: where the copy goes first: memory (measured: 5,000 files in 0.5 s there, 5.8 s on this machine's ext4 /tmp)
FAST_TMP = Path("/dev/shm")
MAX_OUTPUT_BYTES = 16_000_000


@dataclass(frozen=True, kw_only=True)
class Finished:
    """What one run left: its exit code (None when it was killed at the timeout), its output, and ``error`` when
    it could not be started at all."""

    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class Copied:
    files: int
    size: int
    skipped: tuple[str, ...]  # what the bounds left out, one line each (only the first few)


def _reachable(path: Path, account: Account) -> bool:
    """Whether ``account`` (its uid and gid, no other group) can reach ``path`` and read and run it."""
    try:
        target = Path(os.path.realpath(path))
        chain = [*reversed(target.parents), target]
        for i, part in enumerate(chain):
            info = os.stat(part)
            need = stat.S_IXOTH | (stat.S_IROTH if i == len(chain) - 1 else 0)
            if info.st_uid == account.uid:
                mode = (info.st_mode >> 6) & 0o7
            elif info.st_gid == account.gid:
                mode = (info.st_mode >> 3) & 0o7
            else:
                mode = info.st_mode & 0o7
            if mode & need != need:
                return False
    except OSError:
        return False
    return True


def _traversable(folder: Path) -> bool:
    """Whether anyone may pass through ``folder`` and each folder above it."""
    try:
        real = Path(os.path.realpath(folder))
        return all(os.stat(p).st_mode & stat.S_IXOTH for p in [*real.parents, real])
    except OSError:
        return False


def copy_app(source: Path, target: Path, *, dirs: Iterable[str] | None = None,
             suffixes: tuple[str, ...] | None = None) -> Copied:
    """The app's files an evaluation may read, into ``target`` (which must not exist): every file at the top, the
    top-level folders ``dirs`` (None: all) and, below the top, the files ending in ``suffixes`` (None: all).
    Breadth first, so the config files near the top come before deep trees; no ``SKIP_DIRS`` / ``SKIP_PATHS``, no
    file over ``MAX_FILE_BYTES``, at most ``MAX_FILES`` files and ``MAX_TOTAL_BYTES`` in all; regular files and
    folders only (no FIFO, socket or device); a symlink is kept (relative) only when it points inside the app. The
    copy is root's: folders 0755, files 0644."""
    wanted = None if dirs is None else set(dirs)
    root = Path(os.path.realpath(source))
    os.mkdir(target, 0o755)
    os.chmod(target, 0o755)
    files = size = 0
    skipped: list[str] = []
    queue = [Path()]
    while queue:
        rel_dir = queue.pop(0)
        try:
            entries = sorted(os.scandir(root / rel_dir), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            rel = rel_dir / entry.name
            if entry.is_symlink():
                _link(root, rel, target)
            elif entry.is_dir(follow_symlinks=False):
                if entry.name in SKIP_DIRS or rel.as_posix() in SKIP_PATHS or \
                        (wanted is not None and rel_dir == Path() and entry.name not in wanted):
                    continue
                os.mkdir(target / rel, 0o755)
                os.chmod(target / rel, 0o755)
                queue.append(rel)
            elif entry.is_file(follow_symlinks=False):
                if suffixes is not None and rel_dir != Path() and not entry.name.endswith(suffixes):
                    continue
                try:
                    length = entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
                if length > MAX_FILE_BYTES or files >= MAX_FILES or size + length > MAX_TOTAL_BYTES:
                    if len(skipped) < 5:
                        skipped.append(f"{rel.as_posix()} ({length} bytes)")
                    continue
                if _copy_file(root / rel, target / rel):
                    files, size = files + 1, size + length
    return Copied(files=files, size=size, skipped=tuple(skipped))


def _copy_file(source: Path, target: Path) -> bool:
    try:
        with open(source, "rb") as src:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with open(fd, "wb") as dst:
                os.fchmod(fd, 0o644)
                shutil.copyfileobj(src, dst, MAX_FILE_BYTES)
    except OSError:
        return False
    return True


def _link(root: Path, rel: Path, target: Path) -> None:
    """A symlink of the app, as a relative one in the copy, when what it points to is inside the app."""
    try:
        pointed = Path(os.path.realpath(root / rel))
    except OSError:
        return
    if pointed.is_relative_to(root):
        with contextlib.suppress(OSError):
            os.symlink(os.path.relpath(pointed, root / rel.parent), target / rel)


class Sandbox:
    """One ``connlab check``'s evaluations of one app (``with Sandbox(app_dir) as box: box.run(...)``): the copy is
    made at the first run and removed at ``close``."""

    def __init__(self, app_dir: Path, *, dirs: Iterable[str] | None = None,
                 suffixes: tuple[str, ...] | None = None) -> None:
        self.app_dir = Path(os.path.realpath(app_dir))
        self._what = (None if dirs is None else tuple(dirs), suffixes)  # copy_app's dirs and suffixes
        self._account: Account | None = None
        self._ready = False
        self._failed = ""  # why the sandbox could not be made (then nothing runs)
        self._top: Path | None = None
        self._maps: list[tuple[str, str]] = []  # (path in the sandbox, path outside), longest first
        self.copied: Copied | None = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- where things are, as the evaluation sees them ---------------------------------------------------------
    def _prepare(self) -> None:
        if self._ready:
            return
        self._ready = True
        try:
            self._account = service_account()
            if self._account is not None:
                self._make(self._account)
        except (OSError, MissingDependency) as exc:
            self._failed = f"could not run it as the unprivileged user ({exc})"

    def _make(self, account: Account) -> None:
        base = next((b for b in (FAST_TMP, Path(tempfile.gettempdir())) if b.is_dir() and _traversable(b)),
                    Path("/tmp"))
        self._top = top = Path(os.path.realpath(tempfile.mkdtemp(prefix="connlab-eval-", dir=base)))
        os.chown(top, 0, account.gid)
        os.chmod(top, 0o750)  # root and the connlab user only: the copy may hold the app's secrets
        self.copied = copy_app(self.app_dir, top / "app", dirs=self._what[0], suffixes=self._what[1])
        self._maps.append((str(top / "app"), str(self.app_dir)))
        home = top / "home"
        os.mkdir(home, 0o700)
        os.chown(home, account.uid, account.gid)
        os.mkdir(top / "connlab", 0o755)
        os.chmod(top / "connlab", 0o755)

    @property
    def root(self) -> Path:
        """The app's folder as the evaluation sees it: the copy as root, else the app itself."""
        self._prepare()
        return self._top / "app" if self._top is not None else self.app_dir

    def inside(self, path: Path) -> Path:
        """``path`` (a file of the app, or one outside it such as ``gunicorn -c /etc/app.py``) where the evaluation
        can read it: in the copy as root (a file outside the app is copied on its own), else itself."""
        root = self.root
        if self._top is None:
            return path
        real = Path(os.path.realpath(path))
        if real.is_relative_to(self.app_dir):
            return root / real.relative_to(self.app_dir)
        return self._add(real, "outside")

    def script(self, path: Path) -> Path:
        """One of connlab's own scripts, where the user can read it (connlab's checkout may be in a 0700 folder)."""
        self._prepare()
        return self._add(path, "connlab") if self._top is not None else path

    def _add(self, path: Path, under: str) -> Path:
        assert self._top is not None
        folder = self._top / under / str(len(self._maps))
        os.makedirs(folder, 0o755)
        os.chmod(folder, 0o755)
        os.chmod(folder.parent, 0o755)
        copied = folder / path.name
        if path.is_file():
            _copy_file(path, copied)  # unreadable: the evaluation says it cannot open it
        self._maps.append((str(copied), str(path)))
        self._maps.sort(key=lambda pair: -len(pair[0]))
        return copied

    def program(self, candidates: Iterable[str | None]) -> str | None:
        """The first of ``candidates`` (paths or names on PATH) the evaluating user can run."""
        self._prepare()
        for candidate in candidates:
            found = shutil.which(candidate) if candidate else None
            if found and (self._account is None or _reachable(Path(found), self._account)):
                return found
        return None

    def python(self) -> str | None:
        """A Python for ``python -I``: this one, or (as root, when this one is in a folder the user cannot enter,
        a pyenv under /root) the system's."""
        return self.program([sys.executable, os.path.realpath(sys.executable), "/usr/bin/python3", "python3"])

    def unmap(self, value: Any) -> Any:
        """``value`` (a JSON answer: dicts, lists, strings) with the sandbox's paths back to the app's own."""
        if not self._maps:
            return value
        if isinstance(value, str):
            for inside, outside in self._maps:
                value = value.replace(inside, outside)
            return value
        if isinstance(value, list):
            return [self.unmap(v) for v in value]
        if isinstance(value, dict):
            return {self.unmap(k): self.unmap(v) for k, v in value.items()}
        return value

    # -- running -------------------------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, env: Mapping[str, str], timeout: float, stdin: str = "") -> Finished:
        """``argv`` in the app's folder (``root``) with ``env`` (and, as root, ``HOME`` in the sandbox), killed
        with its whole process group when it ends or at ``timeout``; its output read from files."""
        self._prepare()
        if self._failed:
            return Finished(returncode=None, error=self._failed)
        given = dict(env)
        if self._top is not None:
            given["HOME"] = str(self._top / "home")
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as data:
            data.write(stdin.encode())
            data.flush()
            reading = os.open(f"/proc/self/fd/{data.fileno()}", os.O_RDONLY)  # the child cannot write it
            try:
                return self._wait(argv, given, timeout, reading, out, err)
            finally:
                os.close(reading)

    def _wait(self, argv: Sequence[str], env: dict[str, str], timeout: float, stdin: int, out: IO[bytes],
              err: IO[bytes]) -> Finished:
        try:
            process = subprocess.Popen(list(argv), cwd=self.root, env=env, stdin=stdin, stdout=out, stderr=err,
                                       start_new_session=True, **drop_to(self._account))
        except OSError as exc:
            return Finished(returncode=None, error=f"could not be run ({exc.strerror or exc})")
        ended = _exited(process.pid, timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # its children too; not reaped yet, so the group id is still its
        code = process.wait()
        return Finished(returncode=code if ended else None, stdout=_read(out), stderr=_read(err), timed_out=not ended)

    def close(self) -> None:
        if self._top is not None:
            shutil.rmtree(self._top, ignore_errors=True)
            self._top = None
        self._maps = []


def _exited(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` for ``pid`` to exit, leaving it unreaped (``WNOWAIT``); whether it did."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        delay = min(delay * 2, left, 0.05)
        time.sleep(delay)


def _read(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read(MAX_OUTPUT_BYTES).decode("utf-8", errors="replace")

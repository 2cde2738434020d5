"""The run registry: what each run started, on disk, so that what a run that died left can be ended.

A run writes one record, ``run-<pid>-<start>.json``, in a folder of the user's
own (``$TMPDIR/connlab-runs-<uid>``, mode 0700; ``CONNLAB_RUNS_DIR`` overrides
it)::

    {"boot_id": "...", "pid_ns": "pid:[4026531836]", "owner": {"pid": 4242, "start": 1234567},
     "groups": [{"pgid": 4250, "start": 1234601, "name": "postgres", "signal": 2}, ...],
     "folders": ["/tmp/connlab-pg-x1y2z3"], "labels": ["<run id>"]}

``start`` is a process's start time (``/proc/<pid>/stat`` field 22, clock
ticks since boot): a pid the kernel has handed to another process since is
never mistaken for the one recorded. ``process.register_group`` and
``forget_group`` keep the groups current; ``note_folder`` adds a temporary
folder.

A run is dead when its owner is gone (or a zombie, or the pid now belongs to a
process started at another time). Sweeping a dead run's record ends each
recorded group whose leader is still the recorded process (its stop signal,
then SIGKILL after ``SWEEP_GRACE_S``), removes its folders and the docker
backend's containers labelled ``connlab.run=<run id>``, then the record.
Nothing else is touched: not a live run's groups, not a group whose leader is
gone or is another process. A sweeper first claims the record by renaming it
(``...json.claimed-<pid>-<start>``), so the reaper and a later run never sweep
the same record at once; a claim whose claimer died is swept again.

Two sweepers: ``begin_run`` (the start of every run: ``harness.ground.lifetime``)
sweeps every dead run's record, and the reaper (``harness.ground.reaper``, run as
``python -m harness.ground.reaper``: ``REAPER_COMMAND``), a small process each run
starts in a session of its own, sweeps its run's record the moment the owner
dies. ``end_run`` removes the record and stops the reaper.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.ground.children import stop_child

SWEEP_GRACE_S = 1.0  # a dead run: its servers get a second to stop cleanly, then SIGKILL
AFTER_KILL_S = 1.0
POLL_S = 0.05
REAPER_STOP_S = 2.0
CLAIM = ".claimed-"
#: the reaper's command (``python -S -m REAPER_COMMAND RECORD``): what ``ps`` shows, and tests/test_reaper.py
#: finds it by
REAPER_COMMAND = "harness.ground.reaper"
FOLDER_PREFIX = "connlab-"


def _stat(pid: int) -> tuple[str, int, int] | None:
    """A process's state, process group and start time (``/proc/<pid>/stat`` fields 3, 5, 22); None if none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text.rsplit(")", 1)[-1].split()  # the command name, in parentheses, may hold spaces
    try:
        return fields[0], int(fields[2]), int(fields[19])
    except (IndexError, ValueError):
        return None


def start_time(pid: int) -> int | None:
    found = _stat(pid)
    return None if found is None else found[2]


def alive(pid: int, start: int) -> bool:
    """Whether ``pid`` is still the process that started at ``start`` and has not exited."""
    found = _stat(pid)
    return found is not None and found[0] not in ("Z", "X") and found[2] == start


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def runs_dir() -> Path:
    """The user's record folder, created 0700; refused when it is not a real folder of this user's."""
    path = Path(os.environ.get("CONNLAB_RUNS_DIR") or Path(tempfile.gettempdir()) / f"connlab-runs-{os.getuid()}")
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise OSError(f"{path} is not a folder of user {os.getuid()}'s")
    if info.st_mode & 0o077:
        path.chmod(0o700)
    return path


@dataclass(frozen=True)
class Group:
    pgid: int
    start: int
    name: str
    signal: int


@dataclass(frozen=True)
class Swept:
    """What sweeping one dead run's record ended: the owner's pid and the groups' names."""

    owner_pid: int
    groups: tuple[str, ...]


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _groups(data: dict[str, Any]) -> list[Group]:
    groups = []
    for item in data.get("groups", []):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            groups.append(Group(int(item["pgid"]), int(item["start"]), str(item["name"]), int(item["signal"])))
    return groups


def owner_of(data: dict[str, Any]) -> tuple[int, int]:
    owner = data.get("owner", {})
    return int(owner.get("pid", 0)), int(owner.get("start", -1))


class RunRecord:
    """This run's record; every change rewrites the file (write, then rename: never half a record)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._groups: dict[int, Group] = {}
        self._folders: list[str] = []
        self._labels: list[str] = []
        self._closed = False
        self._head = {"boot_id": _boot_id(), "pid_ns": _pid_namespace(),
                      "owner": {"pid": self.pid, "start": start_time(self.pid)}}
        self._write()

    @classmethod
    def create(cls, directory: Path) -> RunRecord:
        return cls(directory / f"run-{os.getpid()}-{start_time(os.getpid())}.json")

    def _write(self) -> None:
        if self._closed:
            return
        data = {**self._head, "groups": [vars(g) for g in self._groups.values()], "folders": self._folders,
                "labels": self._labels}
        staging = self.path.with_name(self.path.name + ".tmp")
        staging.write_text(json.dumps(data))
        os.replace(staging, self.path)

    def add_group(self, pgid: int, name: str, stop_signal: int) -> None:
        start = start_time(pgid)
        if start is None:
            return  # already gone and reaped: nothing to end later
        with self._lock:
            self._groups[pgid] = Group(pgid, start, name, int(stop_signal))
            self._write()

    def drop_group(self, pgid: int) -> None:
        with self._lock:
            if self._groups.pop(pgid, None) is not None:
                self._write()

    def add_folder(self, path: Path) -> None:
        with self._lock:
            self._folders.append(str(path))
            self._write()

    def add_label(self, run_id: str) -> None:
        with self._lock:
            self._labels.append(run_id)
            self._write()

    def remove(self) -> None:
        with self._lock:
            self._closed = True
            self.path.unlink(missing_ok=True)


_current: RunRecord | None = None
_reaper: subprocess.Popen[bytes] | None = None


def _mine() -> RunRecord | None:
    """The current record, when this process is its owner (never in a forked child)."""
    record = _current
    return record if record is not None and record.pid == os.getpid() else None


def note_group(pgid: int, name: str, stop_signal: int) -> None:
    record = _mine()
    if record is not None:
        with contextlib.suppress(OSError):
            record.add_group(pgid, name, stop_signal)


def drop_group(pgid: int) -> None:
    record = _mine()
    if record is not None:
        with contextlib.suppress(OSError):
            record.drop_group(pgid)


def note_folder(path: Path) -> None:
    """Record a temporary folder for a sweep to remove if this run dies before removing it itself."""
    record = _mine()
    if record is not None:
        with contextlib.suppress(OSError):
            record.add_folder(path)


def note_label(run_id: str) -> None:
    """Record the ``connlab.run`` label of this run's containers, for a sweep to remove them."""
    record = _mine()
    if record is not None:
        with contextlib.suppress(OSError):
            record.add_label(run_id)


def _remove_containers(run_ids: list[str]) -> None:
    """``docker rm -f`` every container labelled ``connlab.run=<id>`` (the CLI: the reaper runs without site)."""
    docker = shutil.which("docker")
    if docker is None:
        return
    for run_id in run_ids:
        if not run_id.isalnum():
            continue
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            listed = subprocess.run([docker, "ps", "-aq", "--filter", f"label=connlab.run={run_id}"],
                                    capture_output=True, text=True, timeout=20, check=False).stdout.split()
            if listed:
                subprocess.run([docker, "rm", "-f", *listed], capture_output=True, timeout=60, check=False)


def _start_reaper(record: Path) -> subprocess.Popen[bytes]:
    package_root = str(Path(__file__).resolve().parents[2])  # where ``harness`` is imported from: -S skips site
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH"))
                                                        if p)}
    return subprocess.Popen([sys.executable, "-S", "-m", REAPER_COMMAND, str(record)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # Ctrl-C to the harness's group does not reach it


def begin_run() -> list[str]:
    """Sweep what runs that died left, record this run and start its reaper; return lines to print."""
    global _current, _reaper
    end_run()
    try:
        directory = runs_dir()
        lines = [f"swept {len(s.groups)} process group(s) left by a run that died (pid {s.owner_pid})"
                 for s in sweep_dead_runs(directory) if s.groups]
        _current = RunRecord.create(directory)
    except OSError as exc:
        return [f"no run registry ({exc}): if this run is killed, its servers are left running"]
    try:
        _reaper = _start_reaper(_current.path)
    except OSError as exc:
        lines.append(f"no reaper ({exc}): if this run is killed, the next run ends its servers")
    return lines


def end_run() -> None:
    """This run ended its groups itself: remove its record and stop its reaper."""
    global _current, _reaper
    record, reaper, _current, _reaper = _mine(), _reaper, None, None
    if record is not None:
        with contextlib.suppress(OSError):
            record.remove()
    if reaper is not None:
        stop_child(reaper, grace_s=REAPER_STOP_S)


def _claimer(name: str) -> tuple[int, int] | None:
    try:
        pid, start = name.rsplit(CLAIM, 1)[1].split("-")
        return int(pid), int(start)
    except ValueError:
        return None


def claim(path: Path) -> Path | None:
    """Take a record for sweeping (rename it); None when another sweeper took it first."""
    me = os.getpid()
    claimed = path.with_name(f"{path.name.split(CLAIM, 1)[0]}{CLAIM}{me}-{start_time(me)}")
    try:
        os.rename(path, claimed)
    except FileNotFoundError:
        return None
    return claimed


def _live_groups() -> set[int]:
    """Process groups that still have a member that has not exited."""
    groups = set()
    with os.scandir("/proc") as entries:
        for entry in entries:
            if entry.name.isdigit():
                found = _stat(int(entry.name))
                if found is not None and found[0] not in ("Z", "X"):
                    groups.add(found[1])
    return groups


def _wait_gone(pgids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    left = pgids & _live_groups()
    while left and time.monotonic() < deadline:
        time.sleep(POLL_S)
        left &= _live_groups()
    return left


def _leader_is(group: Group) -> bool:
    found = _stat(group.pgid)
    return found is not None and found[0] not in ("Z", "X") and found[1] == group.pgid and found[2] == group.start


def end_groups(groups: list[Group], grace_s: float = SWEEP_GRACE_S) -> list[Group]:
    """End, all at once, each group whose leader is still the recorded process: its stop signal, then
    SIGKILL after ``grace_s``. Return the groups ended."""
    ours = [g for g in groups if _leader_is(g)]
    for group in ours:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(group.pgid, signal.Signals(group.signal))
    left = _wait_gone({g.pgid for g in ours}, grace_s)
    for pgid in left:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    _wait_gone(left, AFTER_KILL_S)
    return ours


def sweep_claimed(claimed: Path) -> Swept:
    """End what a claimed record of a dead run lists, remove its folders, then the record."""
    data = read_record(claimed) or {}
    try:
        owner_pid = owner_of(data)[0]
    except (AttributeError, TypeError, ValueError):
        owner_pid = 0
    same_boot = data.get("boot_id") == _boot_id()  # after a reboot every pid and start time means another process
    # containers first: a dockerd the run started is one of its groups, and removes them
    _remove_containers([str(label) for label in data.get("labels", [])])
    ended = end_groups(_groups(data)) if same_boot else []
    for folder in data.get("folders", []):
        path = Path(str(folder))
        if path.is_absolute() and path.name.startswith(FOLDER_PREFIX):
            shutil.rmtree(path, ignore_errors=True)
    base = claimed.name.split(CLAIM, 1)[0]
    claimed.with_name(base + ".tmp").unlink(missing_ok=True)
    claimed.unlink(missing_ok=True)
    return Swept(owner_pid, tuple(g.name for g in ended))


def _dead(path: Path) -> bool:
    """Whether the record's run (or, for a claimed record, its sweeper) has died."""
    if CLAIM in path.name:
        claimer = _claimer(path.name)
        return claimer is not None and not alive(*claimer)
    if not path.name.endswith(".json"):
        return False
    data = read_record(path)
    if data is None or data.get("pid_ns", "") != _pid_namespace():
        return False  # unreadable, or its pids are another namespace's (a container sharing /tmp): not ours to judge
    try:
        owner = owner_of(data)
    except (AttributeError, TypeError, ValueError):
        return False
    return data.get("boot_id") != _boot_id() or not alive(*owner)


def sweep_dead_runs(directory: Path | None = None) -> list[Swept]:
    """Sweep the record of every run that died; leave live runs' records alone."""
    directory = directory or runs_dir()
    swept = []
    for path in sorted(directory.iterdir()):
        if _dead(path):
            claimed = claim(path)
            if claimed is not None:
                swept.append(sweep_claimed(claimed))
    return swept

"""A killed harness leaves nothing running: its reaper ends the stack at once, or the next run sweeps it.

A run is found by the sessions of the harness's children (each server, the
Locust and the reaper start a session of their own; Postgres backends and app
workers stay in their leader's) and by the test's marker in the environment:
not by process names, which other tests running at the same time share.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.ground import registry
from tests.helpers import env_with_marker, wait_for_line

ROOT = Path(__file__).resolve().parents[1]
STACK = ("postgres -D", "valkey-server", "gunicorn", "connlab_twin.worker", "locust", "harness.ground.reaper")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # [0] is field 3 (state)


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def sessions_of_children(pid: int) -> dict[int, str]:
    """The sessions the harness's children lead (each server, Locust, the reaper): sid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(int(entry.name))
                if int(fields[1]) == pid and int(fields[3]) != os.getsid(0):
                    found[int(fields[3])] = _cmdline(int(entry.name))
            except OSError:
                continue
    return found


def run_processes(sessions: set[int], marker: str) -> list[str]:
    """Live (not zombie) processes in those sessions or carrying the marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(int(entry.name))
                environ = (entry / "environ").read_bytes().decode(errors="replace")
                cmdline = _cmdline(int(entry.name))
            except OSError:
                continue
            if fields[0] != "Z" and (int(fields[3]) in sessions or marker in environ or marker in cmdline):
                found.append(f"{entry.name}: {cmdline}")
    return found


def start_run(tmp_path: Path, marker: str) -> tuple[subprocess.Popen[str], dict[int, str]]:
    """A real ``connlab run baseline``, once its traffic started; with its children's sessions."""
    log = tmp_path / "harness.log"
    env = {**env_with_marker(marker), "CONNLAB_RUNS_DIR": str(tmp_path / "registry")}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "baseline", "--out", str(tmp_path / "runs")],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
    wait_for_line(proc, log, "connlab: traffic started", timeout_s=60)
    sessions = sessions_of_children(proc.pid)
    seen = " ".join(sessions.values()) + " ".join(run_processes(set(sessions), marker))
    assert all(name in seen for name in STACK), seen
    return proc, sessions


def the_record(tmp_path: Path) -> dict[str, Any]:
    [path] = (tmp_path / "registry").glob("run-*.json")
    return dict(json.loads(path.read_text()))


@pytest.mark.e2e
def test_kill_9_the_harness_and_its_reaper_ends_the_stack_at_once(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    proc, sessions = start_run(tmp_path, marker)
    folders = [Path(folder) for folder in the_record(tmp_path)["folders"]]  # Postgres' cluster, Valkey's config
    assert sorted(folder.name.rsplit("-", 1)[0] for folder in folders) == ["connlab-pg", "connlab-redis"]
    assert all(folder.is_dir() for folder in folders)
    proc.kill()
    killed = time.monotonic()
    proc.wait()
    while run_processes(set(sessions), marker) and time.monotonic() - killed < 10:
        time.sleep(0.05)
    took = time.monotonic() - killed
    assert run_processes(set(sessions), marker) == []
    print(f"stack (and reaper) gone {took:.2f} s after kill -9")
    assert took < 6
    assert not [folder for folder in folders if folder.exists()]
    assert list((tmp_path / "registry").iterdir()) == []


@pytest.mark.e2e
def test_the_next_run_sweeps_a_dead_run_and_leaves_live_ones_alone(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    proc, sessions = start_run(tmp_path, marker)
    [reaper] = [sid for sid, cmdline in sessions.items() if "harness.ground.reaper" in cmdline]
    os.kill(reaper, signal.SIGKILL)
    proc.kill()
    proc.wait()
    time.sleep(0.5)
    assert run_processes(set(sessions) - {reaper}, marker), "the stack should outlive a harness with no reaper"
    live = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a live run's group (this test owns it)
    try:
        record = registry.RunRecord(tmp_path / "registry" / "run-live.json")
        record.add_group(live.pid, "live", signal.SIGTERM)
        swept = registry.sweep_dead_runs(tmp_path / "registry")
        assert [s.owner_pid for s in swept] == [proc.pid]
        assert {"postgres", "redis", "web.1", "worker.1", "locust"} <= set(swept[0].groups)
        assert run_processes(set(sessions), marker) == []
        assert live.poll() is None
        assert [p.name for p in (tmp_path / "registry").iterdir()] == ["run-live.json"]
    finally:
        live.kill()
        live.wait()


def test_a_group_whose_leader_is_another_process_now_is_not_touched(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone_start = registry.start_time(gone.pid)
    gone.wait()
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    start = registry.start_time(bystander.pid)
    assert start is not None
    try:
        for leader_start, survives in ((start + 1, True), (start, False)):
            (tmp_path / "run-dead.json").write_text(json.dumps({
                "boot_id": Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
                "pid_ns": os.readlink("/proc/self/ns/pid"),
                "owner": {"pid": gone.pid, "start": gone_start},
                "groups": [{"pgid": bystander.pid, "start": leader_start, "name": "b", "signal": 15}],
                "folders": []}))
            swept = registry.sweep_dead_runs(tmp_path)
            assert [(s.owner_pid, s.groups) for s in swept] == [(gone.pid, () if survives else ("b",))]
            assert (bystander.poll() is None) == survives
            assert list(tmp_path.iterdir()) == []
    finally:
        bystander.kill()
        bystander.wait()

"""The live panel on a real terminal: ``connlab run`` inside a detached tmux session, its screen read with
``tmux capture-pane`` while it runs. First the start-up panel with each part's time, then the traffic panel with
a row per server (the connections now against the capacity, the refusals so far), then the verdict; nothing left
behind, and one panel on the screen at a time."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import ROOT, env_with_marker, processes_under

#: How often the screen is read, and how long the run may take in all (over-limit: 6 s of traffic).
CAPTURE_EVERY_S = 0.1
RUN_LIMIT_S = 120.0
PANEL_TOP = "╭─ over-limit (python, local)"


def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, check=False)


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux)")
def test_the_panel_shows_start_up_then_each_server_against_its_capacity(tmp_path: Path) -> None:
    marker = f"labtest-live-{uuid.uuid4().hex[:8]}"
    socket = f"connlab-test-{uuid.uuid4().hex[:8]}"
    rc, out = tmp_path / "rc", tmp_path / "runs"
    command = (f"cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m harness run over-limit "
               f"--out {shlex.quote(str(out))}; echo $? > {shlex.quote(str(rc))}; sleep {RUN_LIMIT_S:g}")
    env = env_with_marker(marker)
    screens: list[str] = []
    started = _tmux(socket, "new-session", "-d", "-x", "160", "-y", "50", "-e", f"LABTEST_MARKER={marker}",
                    "-e", f"CONNLAB_RUNS_DIR={env['CONNLAB_RUNS_DIR']}", "-e", "COLUMNS=160", "-e", "LINES=50",
                    "sh", "-c", command)
    assert started.returncode == 0, started.stderr
    try:
        deadline = time.monotonic() + RUN_LIMIT_S
        while not rc.exists():
            assert time.monotonic() < deadline, screens[-1:] or "no screen"
            shown = _tmux(socket, "capture-pane", "-p")
            if shown.returncode == 0 and shown.stdout.strip() and (not screens or shown.stdout != screens[-1]):
                screens.append(shown.stdout)
            time.sleep(CAPTURE_EVERY_S)
        # the whole screen at the end, with what scrolled above the window
        whole = _tmux(socket, "capture-pane", "-p", "-S", "-").stdout
    finally:
        _tmux(socket, "kill-server")
    assert rc.read_text().strip() == "0", screens[-1:]
    startup = [s for s in screens if "starting the stack" in s]
    assert startup, screens[:3]
    assert any(re.search(r"up in \d+\.\d s", s) for s in startup), startup[-1]
    traffic = [s for s in screens if re.search(r"t = +\d+\.\d s of 6", s)]
    assert traffic, screens[-3:]
    # a row per server: the connections now against the capacity (Postgres 10, Redis 20) and the refusals so far
    rows = [re.findall(r"(postgres|redis)\s.*?(\d+) / (\d+)\s+refused (\d+|-)", s) for s in traffic]
    assert all({name for name, *_ in found} == {"postgres", "redis"} for found in rows), traffic[-1]
    capacities = {name: int(capacity) for found in rows for name, _, capacity, _ in found}
    assert capacities == {"postgres": 10, "redis": 20}
    # over-limit fills Postgres: some screen shows it full, and refusals counted as they come
    postgres = [(int(now), refused) for found in rows for name, now, _, refused in found if name == "postgres"]
    assert max(now for now, _ in postgres) == 10, postgres
    assert any(refused not in ("-", "0") for _, refused in postgres), postgres
    # the panel is transient: the verdict is what stays on the screen
    # one console owns the screen while the panel is live: every screen from the first panel on shows exactly
    # one (a line printed past the panel's console leaves the top of the frame before it behind), and the last
    # frame stays above the verdict
    panels = [s.count(PANEL_TOP) for s in screens if PANEL_TOP in s]
    assert panels and set(panels) == {1}, next((s for s in screens if s.count(PANEL_TOP) > 1), "")
    assert whole.count(PANEL_TOP) == 1, whole
    last = whole[whole.index(PANEL_TOP):]
    assert re.search(r"t = +\d+\.\d s of 6", last), last
    assert "prediction held; configuration does not fit; expectations met" in last, last
    assert processes_under(marker) == []

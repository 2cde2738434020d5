"""Locust launched while the stack comes up (``harness.load.LoadRun.launch``): it waits for the go file, and a
Locust never started ends with ``stop``, or by itself when the harness that launched it is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.load import LoadRun
from harness.plan import parse_plan
from tests.helpers import ROOT, SMALL_SCENARIO

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_launched_locust_waits_for_the_go_and_stop_ends_it(tmp_path: Path) -> None:
    import yaml

    plan = parse_plan(yaml.safe_load(SMALL_SCENARIO), tmp_path / "small.yaml")
    load = LoadRun(plan, tmp_path, [])
    load.launch()
    assert load.proc is not None
    time.sleep(3.0)  # long past Locust's imports: without the go file its test has not begun
    assert _alive(load.proc.pid)
    assert "connlab-load-started" not in load.log_path.read_text(errors="replace")
    load.stop()
    assert not _alive(load.proc.pid)
    assert not load.tally_file.exists(), "no test ran"


def test_a_launched_locust_leaves_when_its_harness_is_gone(tmp_path: Path) -> None:
    """The harness dies (os._exit, no stop, no reaper) between launch and start: Locust exits by itself."""
    script = textwrap.dedent(f"""
        import sys, yaml
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from harness.load import LoadRun
        from harness.plan import parse_plan
        from tests.helpers import SMALL_SCENARIO
        load = LoadRun(parse_plan(yaml.safe_load(SMALL_SCENARIO), Path("small.yaml")), Path({str(tmp_path)!r}), [])
        load.launch()
        print(load.proc.pid, flush=True)
        import os
        os._exit(0)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "CONNLAB_RUNS_DIR": str(tmp_path / "runs")})
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[0])
    assert _wait_gone(pid, 30), "the orphaned Locust is still running"

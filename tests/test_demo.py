"""``connlab demo``: the teaching steps, run for real on the Rails app, each agreeing with its arithmetic.

One real run of the whole demo (8 short steps, about a minute) through the CLI
as a user runs it, then the files it leaves: every step's results.json with its
prediction held, the 2 x 2 x 2 step at 8, an index page linking every step,
and no process left. ``--web`` on the twin: the first step driven from
Locust's web UI, then Ctrl-C while the second waits for Start. The arithmetic
lines need no stack.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from harness.demo import arithmetic, demo_steps
from harness.plan import load_plan
from tests.helpers import ROOT, env_with_marker, processes_under
from tests.helpers_e2e import needs_rails


def test_the_steps_arithmetic_plugs_in_their_numbers() -> None:
    names = [path.stem for path in demo_steps()]
    assert names[:4] == ["01-one-process-one-thread", "02-one-process-two-threads", "03-two-processes-two-threads",
                         "04-two-dynos-the-6-that-is-8"]
    lines = {path.stem: arithmetic(load_plan(path)) for path in demo_steps()}
    assert lines["04-two-dynos-the-6-that-is-8"][0].startswith(
        "postgres: 2 dynos x 2 processes x min(2 threads, pool 5) = 8 of capacity 10")
    assert lines["05-sidekiq-postgres-and-redis"][0].startswith(
        "postgres: 1 dyno x 1 process x min(2 threads, pool 2) + 2 Sidekiq processes x min(concurrency 5, pool 5) = "
        "2 + 10 = 12 of capacity 16")
    assert "2 Sidekiq processes x (C + 1 = 6), each up to 10" in lines["05-sidekiq-postgres-and-redis"][1]
    over, capped = lines["07-autoscaler-over-the-limit"], lines["08-autoscaler-capped-at-what-fits"]
    assert over[-1].startswith("after t=0.5 s (web at 3 dynos), postgres: 3 dynos x 2 processes x min(2 threads, "
                               "pool 2) = 12 of capacity 10") and over[-1].endswith(": exhausts")
    assert capped[-1].endswith("= 8 of capacity 10 (worst case, every pool full: 8): fits")


def test_a_forking_worker_is_named_and_counted_by_its_kind() -> None:
    """The Rails forking worker is Resque-style (Postgres C: one per running child; Redis 2C: a BLPOP per worker +
    one per running child), the twin's is RQ (C; 3C: fetch + pubsub per worker + each horse's own), each named and
    its formula given by its kind; a range (dramatiq's Redis 1 .. T + 2) shows its figure."""
    scenarios = ROOT / "scenarios"
    rails = arithmetic(load_plan(scenarios / "rails-forking-worker-safe.yaml"))
    python = arithmetic(load_plan(scenarios / "forking-worker-safe.yaml"))
    dramatiq = arithmetic(load_plan(scenarios / "baseline.yaml"))
    assert "1 Resque-style process x (C = 3) = 0 + 3 = 3" in rails[0] and "RQ" not in " ".join(rails)
    assert "1 Resque-style process x (2C = 6) = 1 + 6" in rails[1]
    assert "1 RQ process x (C = 3)" in python[0]
    assert "1 RQ process x (3C = 9), each up to 12" in python[1]
    assert "1 dramatiq process x min(concurrency 2, pool 2)" in dramatiq[0]
    assert "1 dramatiq process x 1, each up to 4" in dramatiq[1]


def _ui_addresses(log: Path) -> list[str]:
    return re.findall(r"http://127\.0\.0\.1:\d+/", log.read_text())


@pytest.mark.e2e
def test_web_drives_a_step_from_locusts_ui_and_ctrl_c_ends_the_demo(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    log, out = tmp_path / "demo.log", tmp_path / "runs"
    with log.open("w") as sink:
        demo = subprocess.Popen([sys.executable, "-m", "harness", "demo", "--web", "--no-pause", "--app", "python",
                                 "--out", str(out)], stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=ROOT, env=env_with_marker(marker))
    try:
        deadline = time.monotonic() + 60
        while not _ui_addresses(log):
            assert demo.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        ui = _ui_addresses(log)[0]
        while True:  # the UI answers once Locust is up; the step's traffic waits for Start
            try:
                with urllib.request.urlopen(ui, timeout=5) as page:
                    assert page.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
        form = urllib.parse.urlencode({"user_count": 4, "spawn_rate": 100}).encode()
        with urllib.request.urlopen(ui + "swarm", data=form, timeout=5) as started:
            assert b'"success": true' in started.read()
        while len(_ui_addresses(log)) < 2:  # step 1 judged, step 2's UI waiting for a person
            assert demo.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 130, log.read_text()[-3000:]
    finally:
        if demo.poll() is None:
            demo.kill()
    text = log.read_text()
    assert "in Locust's web UI (its address follows), the step's own traffic: 4 users for 3 s" in text
    assert "agrees: predicted 1, observed 1" in text
    [demo_dir] = list(out.glob("demo-*"))
    [step] = [path.parent for path in demo_dir.glob("*/results.json")]
    document = json.loads((step / "results.json").read_text())
    assert document["verdict"]["prediction_held"] and document["verdict"]["expectations_met"], document["verdict"]
    assert f'href="{step.name}/report.html"' in (demo_dir / "index.html").read_text()
    assert processes_under(marker) == []


@pytest.mark.e2e
@needs_rails
def test_demo_runs_every_step_and_each_agrees(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    began = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "harness", "demo", "--no-pause", "--out", str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT, env=env_with_marker(marker), timeout=240,
                            stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - began
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert "press Enter" not in result.stdout
    [demo_dir] = list(tmp_path.glob("demo-*"))
    run_dirs = sorted(path.parent for path in demo_dir.glob("*/results.json"))
    assert [re.sub(r"-\d{8}-\d{6}-\d+$", "", d.name) for d in run_dirs] == [p.stem for p in demo_steps()]
    index = (demo_dir / "index.html").read_text()
    for run_dir in run_dirs:
        document = json.loads((run_dir / "results.json").read_text())
        assert document["app"] == "rails"
        assert document["verdict"]["prediction_held"] and document["verdict"]["expectations_met"], document["verdict"]
        [link] = re.findall(rf'href="({re.escape(run_dir.name)}/[^"]+)"', index)
        assert link.endswith(("/report.html", "/results.json")) and (demo_dir / link).is_file()
        if run_dir.name.startswith("04-"):
            pg = next(r for r in document["resources"] if r["name"] == "postgres")
            assert (pg["predicted"]["expected"], pg["observed"]["peak"]) == (8, 8)
    assert "agrees: predicted 8, observed 8" in result.stdout
    assert "2 dynos x 2 processes x min(2 threads, pool 5) = 8" in result.stdout
    assert "does not agree" not in result.stdout + index
    assert processes_under(marker) == []
    print(f"the demo took {seconds:.0f} s")

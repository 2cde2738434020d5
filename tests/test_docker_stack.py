"""The docker backend end to end: Postgres 17, Valkey and the app (Rails 7.2 with Puma 6 and Sidekiq 7, or the
Python twin) as containers, one per dyno. Skipped, saying why, where no Docker engine answers."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.assets import scenario_path
from harness.plan import load_plan
from harness.resources.registry import RESOURCES
from harness.stack.backends import make_stack
from tests.helpers import ROOT
from tests.helpers_e2e import only_results, resource, validate

#: starts real servers, apps, Locust or the Docker engine (pytest -m "not e2e" leaves it out)
pytestmark = pytest.mark.e2e

LABEL = "connlab.run"


def run_docker(scenario: str, out: Path, *extra: str) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    result = subprocess.run([sys.executable, "-m", "harness", "run", scenario, "--backend", "docker", "--out",
                             str(out), "--json", *extra], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    document: dict[str, Any] = only_results(out)  # type: ignore[assignment]
    validate(document)
    assert document["backend"] == "docker"
    return document, result


def labelled(client: Any) -> list[str]:
    return [str(c.name) for c in client.containers.list(all=True, ignore_removed=True, filters={"label": LABEL})] + \
        [str(n.name) for n in client.networks.list(filters={"label": LABEL})]


@pytest.mark.parametrize("app", ["python", "rails"])
def test_over_limit_on_both_apps_pins_the_peak_at_capacity(client: Any, images: None, tmp_path: Path,
                                                           app: str) -> None:
    document, result = run_docker("over-limit", tmp_path, "--app", app)
    assert result.returncode == 0, result.stderr[-3000:]
    pg = resource(document, "postgres")
    assert pg["observed"]["peak"] == pg["capacity"] == 10
    assert pg["observed"]["rejected"] >= 1
    # the container's log is whole only at teardown: the live lines do not count Postgres' refusals
    assert re.search(r"postgres \d+/10 \(- refused\)", result.stderr), result.stderr[-2000:]
    versions = document["versions"]
    assert versions["postgres"].startswith("17."), versions
    if app == "rails":
        assert versions["rails"].startswith("7.2.") and versions["sidekiq"].startswith("7."), versions
    else:
        assert versions["python"].startswith("3.13."), versions  # Debian trixie's, not the harness's
    assert labelled(client) == []


def test_rails_7_2_holds_its_connection_per_query_and_fits(client: Any, images: None, tmp_path: Path) -> None:
    """rails-checkout exhausts Rails 6.1 (tests/test_e2e_rails.py); the same traffic fits Rails 7.2."""
    document, result = run_docker("rails-checkout", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    pg = resource(document, "postgres")
    assert (pg["predicted"]["expected"], pg["exhaustion"]["predicted"]) == (2, "at-risk")
    assert pg["observed"]["rejected"] == 0
    assert pg["observed"]["peak"] < pg["capacity"] == 12  # 6 and 8 measured; 6.1 holds 12 and is refused more
    assert document["versions"]["rails"].startswith("7.2.")


def test_ctrl_c_removes_every_container(client: Any, images: None, tmp_path: Path) -> None:
    log, harness = _start_harness("autoscale", tmp_path)
    _wait_for(log, harness, "traffic started")
    assert len(labelled(client)) >= 4, log.read_text()[-2000:]
    harness.send_signal(signal.SIGINT)
    assert harness.wait(timeout=60) == 130, log.read_text()[-2000:]
    assert labelled(client) == []


def test_a_dyno_container_killed_ends_the_run_and_leaves_nothing(client: Any, images: None, tmp_path: Path) -> None:
    log, harness = _start_harness("autoscale", tmp_path)
    _wait_for(log, harness, "traffic started")
    running = client.containers.list(ignore_removed=True, filters={"label": LABEL})
    dyno = next(c for c in running if str(c.name).endswith("-web.1"))
    dyno.kill()
    assert harness.wait(timeout=60) == 4, log.read_text()[-2000:]
    assert "web.1 exited" in log.read_text()
    assert labelled(client) == []


def _start_harness(scenario: str, out: Path) -> tuple[Path, subprocess.Popen[bytes]]:
    """The harness running ``scenario`` on docker in the background, its output going to the log returned."""
    log = out / "run.log"
    with log.open("w") as output:
        harness = subprocess.Popen([sys.executable, "-m", "harness", "run", scenario, "--backend", "docker",
                                    "--out", str(out)], stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)
    return log, harness


def _wait_for(log: Path, harness: subprocess.Popen[bytes], needle: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while needle not in log.read_text():
        assert harness.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)


def test_autoscale_on_rails_7_2_in_containers(client: Any, images: None, tmp_path: Path) -> None:
    before = {c.id for c in client.containers.list(all=True, ignore_removed=True)}
    document, result = run_docker("autoscale", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == document
    pg = resource(document, "postgres")
    assert pg["observed"]["peak"] == pg["capacity"] == 27  # type: ignore[index]
    # Rails 7.2 reports a full server as DatabaseConnectionError "issue connecting with your hostname"; the app
    # adds Postgres' own words from the cause, so it still counts as server_full
    kinds = {e["class"]: e["kind"] for e in document["errors"]}  # type: ignore[union-attr]
    assert kinds == {"ActiveRecord::DatabaseConnectionError": "server_full"}
    left = [c.name for c in client.containers.list(all=True, ignore_removed=True) if c.id not in before]
    assert left == []


def test_a_killed_harness_leaves_no_container(client: Any, images: None, tmp_path: Path) -> None:
    log, harness = _start_harness("rails-baseline", tmp_path)
    _wait_for(log, harness, "traffic started", timeout_s=120)
    ours = [c for c in client.containers.list(ignore_removed=True) if "connlab.run" in c.labels]
    assert len(ours) >= 4, log.read_text()[-2000:]  # postgres, redis, web.1, worker.1
    harness.send_signal(signal.SIGKILL)
    harness.wait()
    deadline = time.monotonic() + 15
    while [c for c in client.containers.list(all=True, ignore_removed=True) if c.id in {o.id for o in ours}] and \
            time.monotonic() < deadline:
        time.sleep(0.25)
    left = [c.name for c in client.containers.list(all=True, ignore_removed=True) if c.id in {o.id for o in ours}]
    assert left == [], "the reaper did not remove the killed run's containers"


class _GoneEngine:
    """A Docker client whose engine has stopped: every call fails."""

    def __getattr__(self, name: str) -> Any:
        raise ConnectionError(f"the engine is gone ({name})")


def test_a_second_down_leaves_the_engine_alone(client: Any, images: None, tmp_path: Path) -> None:
    """A failed up() calls down(), and the run's teardown calls it again. The first may have stopped the dockerd
    this run started (measured: Ctrl-C during a docker start-up then crashed, exit 70, in remove_labelled)."""
    stack = make_stack(load_plan(scenario_path("baseline")), tmp_path, resources=RESOURCES, backend="docker")
    try:
        stack.up()
    finally:
        stack.down()
    assert labelled(client) == []
    stack.launcher.client = _GoneEngine()
    stack.down()

"""The docker backend end to end: Postgres 17, Valkey and the Rails 7.2 app (Puma 6, Sidekiq 7) as containers,
one per dyno. Skipped, saying why, where no Docker engine answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.test_e2e_python import ROOT, only_results, resource, validate


def test_autoscale_on_rails_7_2_in_containers(client: Any, tmp_path: Path) -> None:
    before = {c.id for c in client.containers.list(all=True)}
    result = subprocess.run([sys.executable, "-m", "harness", "run", "autoscale", "--backend", "docker", "--out",
                             str(tmp_path), "--json"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    document = only_results(tmp_path)
    assert json.loads(result.stdout) == document
    validate(document)
    assert document["backend"] == "docker"
    pg = resource(document, "postgres")
    assert pg["observed"]["peak"] == pg["capacity"] == 27  # type: ignore[index]
    # Rails 7.2 reports a full server as DatabaseConnectionError "issue connecting with your hostname"; the app
    # adds Postgres' own words from the cause, so it still counts as server_full
    kinds = {e["class"]: e["kind"] for e in document["errors"]}  # type: ignore[union-attr]
    assert kinds == {"ActiveRecord::DatabaseConnectionError": "server_full"}
    left = [c.name for c in client.containers.list(all=True) if c.id not in before]
    assert left == []


def test_a_killed_harness_leaves_no_container(client: Any, tmp_path: Path) -> None:
    import signal
    import time

    log = tmp_path / "run.log"
    with log.open("w") as out:
        harness = subprocess.Popen([sys.executable, "-m", "harness", "run", "rails-baseline", "--backend", "docker",
                                    "--out", str(tmp_path)], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 120
    while "traffic started" not in log.read_text() and time.monotonic() < deadline and harness.poll() is None:
        time.sleep(0.2)
    ours = [c for c in client.containers.list() if "connlab.run" in c.labels]
    assert len(ours) >= 4, log.read_text()[-2000:]  # postgres, redis, web.1, worker.1
    harness.send_signal(signal.SIGKILL)
    harness.wait()
    deadline = time.monotonic() + 15
    while [c for c in client.containers.list(all=True) if c.id in {o.id for o in ours}] and \
            time.monotonic() < deadline:
        time.sleep(0.25)
    left = [c.name for c in client.containers.list(all=True) if c.id in {o.id for o in ours}]
    assert left == [], "the reaper did not remove the killed run's containers"

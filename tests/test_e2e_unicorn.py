"""End to end on the Rails app under Unicorn (``tiers.web.server: unicorn``): forked workers of one thread each.

The three Unicorn scenarios run for real (3 dynos x 3 workers each): the default
pool of 5 whose idle slots count only on paper, a connection opened in the
preloaded master and shared by every worker, and both fixed. Unicorn comes
from Debian's ``unicorn`` package; the two SSL scenarios need Debian's
postgresql; each test skips, saying what to install, where one is missing.
Teardown is checked after every run, after Ctrl-C, and after the SIGKILL of a
dyno's master alone (its workers are orphaned and must still go).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from harness.stack.apps import RAILS_PACKAGES, rails_missing
from tests.helpers import ROOT, env_with_marker, processes_under, wait_for_line
from tests.helpers_e2e import HAS_SSL_POSTGRES, groups, only_results, resource, validate

#: starts real servers, apps, Locust or the Docker engine (pytest -m "not e2e" leaves it out)
pytestmark = pytest.mark.e2e

MISSING = rails_missing("unicorn")
needs_unicorn = pytest.mark.skipif(
    MISSING is not None,
    reason=f"Ruby/Rails or Unicorn not installed ({MISSING}); .ci/run installs: {' '.join(RAILS_PACKAGES)}")
needs_ssl = pytest.mark.skipif(not HAS_SSL_POSTGRES, reason="no Debian postgresql with SSL "
                                                            "(apt-get install postgresql-15; .ci/run installs it)")


def error_counts(document: dict[str, object]) -> dict[str, int]:
    errors = document["errors"]
    assert isinstance(errors, list)
    return {e["class"]: int(e["count"]) for e in errors}


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """The three scenarios' results, run side by side (each its own Postgres, Valkey and dynos: ~10 s in all
    instead of ~30 one after the other); the SSL two only where Debian's postgresql is installed."""
    if MISSING is not None:
        pytest.skip(f"Ruby/Rails or Unicorn not installed ({MISSING}); .ci/run installs: {' '.join(RAILS_PACKAGES)}")
    names = ["rails-unicorn-pool-5"] + (["rails-unicorn-fork-unsafe", "rails-unicorn-safe"] if HAS_SSL_POSTGRES else [])
    runs = {}
    for name in names:
        marker, out = uuid.uuid4().hex, tmp_path_factory.mktemp(name)
        proc = subprocess.Popen([sys.executable, "-m", "harness", "run", name, "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                                env=env_with_marker(marker))
        runs[name] = (marker, out, proc)
    found = {}
    for name, (_, out, proc) in runs.items():
        output, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"{name}: {output[-3000:]}"
        found[name] = only_results(out)
        validate(found[name])
    for marker, _, _ in runs.values():
        assert processes_under(marker) == []
    return found


@needs_unicorn
def test_the_default_pool_of_5_counts_idle_slots_only_on_paper(documents: dict[str, dict[str, object]]) -> None:
    document = documents["rails-unicorn-pool-5"]
    assert "unicorn" in document["versions"] and "puma" not in document["versions"]  # type: ignore[operator]
    pg = resource(document, "postgres")
    assert pg["exhaustion"] == {"predicted": "at-risk", "observed": False}
    assert (pg["predicted"]["expected"], pg["predicted"]["worst_case"], pg["capacity"]) == (9, 45, 27)  # type: ignore[index]
    assert groups(document, "postgres") == {f"web.{i}": (3, 15, 3) for i in (1, 2, 3)}
    assert document["errors"] == []


@needs_unicorn
@needs_ssl
def test_a_connection_opened_in_the_preloaded_master_fails_every_worker(
        documents: dict[str, dict[str, object]]) -> None:
    document = documents["rails-unicorn-fork-unsafe"]
    # per dyno: the master's ActiveRecord connection and the one its 3 workers share; their own pools open none
    assert groups(document, "postgres") == {f"web.{i}": (2, 17, 2) for i in (1, 2, 3)}
    counts = error_counts(document)
    assert set(counts) <= {"PG::ConnectionBad", "PG::UnableToSend"}, counts
    errors = document["errors"]
    assert isinstance(errors, list) and all(e["kind"] == "connection_lost" for e in errors)
    # the first requests break the shared SSL session (one PG::ConnectionBad per worker, 9 in every measured run);
    # the dead global stays dead, so nearly every request fails ("no connection to the server")
    assert 1 <= counts.get("PG::ConnectionBad", 0) <= 9, counts
    requests = document["requests"]
    assert isinstance(requests, dict)
    assert requests["failed"] >= requests["total"] - 9 > 100, requests


@needs_unicorn
@needs_ssl
def test_after_fork_connections_and_a_pool_of_1_give_the_arithmetic_and_no_errors(
        documents: dict[str, dict[str, object]]) -> None:
    document = documents["rails-unicorn-safe"]
    assert document["errors"] == []
    pg = resource(document, "postgres")
    assert (pg["predicted"]["expected"], pg["predicted"]["worst_case"], pg["observed"]["peak"]) == (9, 9, 9)  # type: ignore[index]
    assert groups(document, "postgres") == {f"web.{i}": (3, 3, 3) for i in (1, 2, 3)}


LONG = """
app: rails
postgres: {max_connections: 20}
redis: {maxclients: 20}
tiers:
  web: {dynos: 1, processes: 3, threads: 1, pool: 1, server: unicorn}
traffic:
  query_ms: 200
  stages: [{duration_s: 60, users: 6, spawn_rate: 50}]
"""


def unicorns(marker: str) -> dict[int, str]:
    """This run's Unicorn processes (pid: title), found by the marker in their environment."""
    found = {}
    for line in processes_under(marker):
        pid, cmdline = line.split(": ", 1)
        try:
            ours = f"LABTEST_MARKER={marker}".encode() in Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if ours and cmdline.startswith(("unicorn master", "unicorn worker[")):
            found[int(pid)] = cmdline
    return found


@needs_unicorn
def test_ctrl_c_and_a_killed_master_leave_no_unicorn_behind(tmp_path: Path) -> None:
    """Two long runs side by side: Ctrl-C ends one (130), the SIGKILL of the dyno's master alone ends the other
    (4, its 3 workers orphaned); neither leaves a process behind."""
    scenario = tmp_path / "long.yaml"
    scenario.write_text(LONG)
    runs = {}
    for name in ("ctrl-c", "killed"):
        marker = uuid.uuid4().hex
        log = tmp_path / f"{name}.log"
        proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(scenario), "--out",
                                 str(tmp_path / name)], stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
                                cwd=ROOT, env=env_with_marker(marker))
        runs[name] = (marker, proc, log)
    for marker, proc, log in runs.values():
        wait_for_line(proc, log, "traffic started", timeout_s=60)
        titles = sorted(t.split(" -c ")[0] for t in unicorns(marker).values())
        assert titles == ["unicorn master", "unicorn worker[0]", "unicorn worker[1]", "unicorn worker[2]"], titles
    marker, proc, log = runs["ctrl-c"]
    proc.send_signal(signal.SIGINT)
    marker, proc, log = runs["killed"]
    [master] = [pid for pid, title in unicorns(marker).items() if title.startswith("unicorn master")]
    os.kill(master, signal.SIGKILL)
    for name, code, line in (("ctrl-c", 130, "stopped by SIGINT"),
                             ("killed", 4, "web.1 exited with status -9 during the run")):
        marker, proc, log = runs[name]
        assert proc.wait(timeout=60) == code, log.read_text()[-2000:]
        assert line in log.read_text()
    for marker, _, _ in runs.values():
        assert processes_under(marker) == []

"""The Rails app's Resque-style forking job worker end to end (stacks/rails/lib/connlab_resque.rb).

Without the fork hooks and with a connection the parent opened at boot, every
child shares that one SSL session and the jobs fail, counted from the worker's
log; with the guidance's hooks and nothing opened in the parent, none fails
and Postgres holds one connection per running child. Needs Ruby/Rails and
Debian's postgresql (SSL); skipped, saying so, where they are missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers_e2e import groups, lost, rails, run_scenario, ssl

#: starts real servers, apps, Locust or the Docker engine (pytest -m "not e2e" leaves it out)
pytestmark = pytest.mark.e2e


@ssl
@rails
def test_a_forking_rails_worker_fails_its_jobs_without_the_hooks_and_not_with_them(tmp_path: Path) -> None:
    # run_scenario: exit 0 (prediction held, expectations met), results.json valid, nothing left running
    unsafe = run_scenario("rails-forking-worker-unsafe", tmp_path / "unsafe")
    failed = lost(unsafe, "worker")
    assert sum(int(e["count"]) for e in failed) > 0  # type: ignore[call-overload]
    assert {e["class"] for e in failed} <= {"PG::ConnectionBad", "PG::UnableToSend"}
    assert lost(unsafe, "web") == []  # users never see it
    # 3 children with their own ActiveRecord connection + the parent's shared one
    assert groups(unsafe, "postgres")["worker.1"] == (4, 4, 4)

    safe = run_scenario("rails-forking-worker-safe", tmp_path / "safe")
    assert safe["errors"] == []
    assert groups(safe, "postgres")["worker.1"] == (3, 3, 3)  # one per running child
    assert groups(safe, "redis")["worker.1"] == (6, 6, 6)  # each worker's BLPOP + its child's own

"""End to end on the real Rails app: Puma, Sidekiq and one-offs from Debian's packages.

The same checks as the twin's, plus what only the Rails scenarios show:
Sidekiq's Redis connections against its "concurrency + 5" ceiling, rake and
console groups, and the autoscaler crossing capacity mid-run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.assets import scenario_path
from harness.plan import load_plan
from harness.stack.apps import RAILS_PACKAGES, Endpoints, web_settings
from tests.helpers import ROOT
from tests.helpers_e2e import check_autoscale_report, groups, needs_rails, resource, run_scenario

#: starts real servers, apps, Locust or the Docker engine (pytest -m "not e2e" leaves it out)
pytestmark = pytest.mark.e2e


@needs_rails
@pytest.mark.parametrize("name", ["rails-baseline", "rails-pool-starvation", "rails-over-limit",
                                  "rails-dynos-2x2x2"])
def test_rails_twins_of_the_python_scenarios(name: str, tmp_path: Path) -> None:
    document = run_scenario(name, tmp_path)
    assert document["app"] == "rails"
    classes = {e["class"]: e["kind"] for e in document["errors"]}  # type: ignore[union-attr]
    pg = groups(document, "postgres")
    if name == "rails-dynos-2x2x2":
        assert pg == {"web.1": (4, 10, 4), "web.2": (4, 10, 4)}
    if name == "rails-pool-starvation":
        assert classes == {"ActiveRecord::ConnectionTimeoutError": "pool_timeout"}
    if name == "rails-over-limit":
        assert classes == {"ActiveRecord::ConnectionNotEstablished": "server_full"}
        assert resource(document, "postgres")["observed"]["peak"] == 10  # type: ignore[index]
    if name == "rails-baseline":
        assert pg == {"web.1": (4, 10, 4), "worker.1": (2, 2, 2)}


@needs_rails
def test_sidekiq_connections_per_process(tmp_path: Path) -> None:
    document = run_scenario("sidekiq", tmp_path)
    pg = groups(document, "postgres")
    assert pg["worker.1"] == (10, 10, 10) and pg["worker.2"] == (10, 10, 10)
    redis = groups(document, "redis")
    for worker in ("worker.1", "worker.2"):
        expected, ceiling, observed = redis[worker]
        assert (expected, ceiling) == (11, 15)  # measured rule C + 1, Sidekiq's pool C + 5
        assert observed in (10, 11)  # C + 1; C when the first heartbeat ends before the processors first wait


@needs_rails
def test_rake_and_console_are_their_own_groups(tmp_path: Path) -> None:
    document = run_scenario("rake-and-console", tmp_path)
    pg = groups(document, "postgres")
    assert pg["rake"] == (3, 3, 3) and pg["console"] == (1, 1, 1) and pg["web.1"] == (4, 4, 4)
    whats = [e["what"] for e in document["events"]]  # type: ignore[union-attr]
    assert sum(w.startswith("started 3 x rake") for w in whats) == 2  # the cron fired at 1 s and 5 s


@needs_rails
def test_autoscale_crosses_capacity_mid_run(tmp_path: Path) -> None:
    document = run_scenario("autoscale", tmp_path)
    pg = resource(document, "postgres")
    assert pg["predicted"]["status"] == "fits"  # type: ignore[index]
    assert pg["predicted"]["final"] == {"expected": 33, "worst_case": 33, "status": "exhausts"}  # type: ignore[index]
    assert pg["exhaustion"] == {"predicted": "exhausts", "observed": True}
    assert pg["capacity"] == 27
    assert pg["observed"]["peak"] == 27  # type: ignore[index]
    events = document["events"]
    assert isinstance(events, list)
    scaled_to_5 = next(e["t"] for e in events if "to 5 dynos" in e["what"])
    first_refusal = next(e["t"] for e in events if e["what"].startswith("postgres refused its first"))
    assert first_refusal >= scaled_to_5 - 3  # refusals start once the new dynos are up, not before
    assert {g for g in groups(document, "postgres")} >= {"web.4", "web.5"}
    # the same run's report.html, drawn in headless Chromium, against its series
    check_autoscale_report(document, tmp_path)


def test_missing_ruby_is_one_line_naming_the_packages(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "CONNLAB_NO_INSTALL": "1"}
    result = subprocess.run([sys.executable, "-m", "harness", "run", "scenarios/rails-baseline.yaml", "--out",
                             str(tmp_path)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert result.returncode == 3
    assert result.stderr.strip() == ("connlab: the Rails app needs Ruby and its gems (ruby is missing): "
                                     "apt-get install " + " ".join(RAILS_PACKAGES))


@needs_rails
def test_rails_6_1_holds_its_connection_through_the_request_and_exhausts(tmp_path: Path) -> None:
    """rails-checkout: 20 ms queries, ~480 ms of work; Rails 6.1 keeps every connection leased to the end of the
    request, so 16 busy threads want 16 (the docker test shows Rails 7.2 fitting the same traffic)."""
    document = run_scenario("rails-checkout", tmp_path)
    versions = document["versions"]
    assert versions["rails"].startswith("6.1."), versions  # type: ignore[index]
    assert versions["postgres"] and versions["valkey"]  # type: ignore[index]
    pg = resource(document, "postgres")
    assert (pg["predicted"]["expected"], pg["exhaustion"]["predicted"]) == (16, "exhausts")  # type: ignore[index]
    assert pg["observed"]["peak"] == pg["capacity"] == 12  # type: ignore[index]
    assert pg["observed"]["rejected"] >= 1  # type: ignore[index]


@needs_rails
def test_the_cache_pool_is_built_before_any_thread_serves() -> None:
    """Rails 6.1 builds RedisCacheStore's pool on first use with ``@redis ||=``, which is not thread-safe:
    measured, 24 of 2000 first uses by 5 threads built more than one pool, each opening connections of its own,
    and with that window widened rails-redis-fits refused 70+ connections in 3 runs of 3 (a CI run once refused
    22). The app builds the pool at boot, empty, as Rails 7.2 does in the store's constructor."""
    plan = load_plan(scenario_path("rails-redis-fits"))
    endpoints = Endpoints(variables={"CONNLAB_DATABASE_URL": "postgres://connlab@127.0.0.1:9/connlab",
                                     "CONNLAB_REDIS_URL": "redis://127.0.0.1:9/0"})
    env = {**os.environ, **web_settings(plan, endpoints, dyno=1, port=9)}
    script = ('require "./app"; pool = Rails.cache.instance_variable_get(:@redis); '
              'seen = Array.new(5) { Thread.new { Rails.cache.redis } }.map(&:value); '
              'puts pool.class, seen.map(&:object_id).uniq.size')
    result = subprocess.run(["ruby", "-e", script], capture_output=True, text=True, env=env, timeout=120,
                            cwd=ROOT / "stacks" / "rails")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["ConnectionPool", "1"], result.stdout + result.stderr[-2000:]

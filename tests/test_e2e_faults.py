"""Faults and deploys end to end, on both apps: dead connections, a Postgres restart, a preboot deploy."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers_e2e import MISSING, resource, rows, run_scenario

#: starts real servers, apps, Locust or the Docker engine (pytest -m "not e2e" leaves it out)
pytestmark = pytest.mark.e2e

APPS = [pytest.param("", id="python"),
        pytest.param("rails-", id="rails", marks=pytest.mark.skipif(MISSING is not None, reason="no Ruby/Rails"))]


@pytest.mark.parametrize("prefix", APPS)
def test_dead_connections_fail_in_flight_requests_then_pools_refill(prefix: str, tmp_path: Path) -> None:
    document = run_scenario(f"{prefix}dead-connections", tmp_path)
    whats = [e["what"] for e in document["events"]]  # type: ignore[union-attr]
    assert any(w.startswith("terminated ") and "backend(s) of web*" in w and not w.startswith("terminated 0")
               for w in whats), whats
    assert any(w.startswith("restarted Postgres") for w in whats)
    assert any(w.startswith("killed ") and "of worker*" in w for w in whats)
    lost = sum(e["count"] for e in document["errors"] if e["kind"] == "connection_lost")  # type: ignore[union-attr]
    assert lost > 0
    pg = resource(document, "postgres")
    # the pools refill to one connection per busy thread, within the worst case (every pool full)
    assert pg["observed"]["peak"] == pg["predicted"]["expected"] == 10  # type: ignore[index]
    assert pg["predicted"]["worst_case"] == 18  # type: ignore[index]


@pytest.mark.parametrize("prefix", APPS)
def test_preboot_deploy_doubles_the_web_tier_against_capacity(prefix: str, tmp_path: Path) -> None:
    document = run_scenario(f"{prefix}preboot-deploy", tmp_path)
    pg = resource(document, "postgres")
    assert pg["predicted"]["status"] == "fits"  # type: ignore[index]
    assert pg["exhaustion"] == {"predicted": "exhausts", "observed": True}
    assert pg["observed"]["peak"] == pg["capacity"] == 12  # type: ignore[index]
    assert {g["group"] for g in pg["groups"]} >= {"web.3", "web.4"}  # type: ignore[attr-defined]
    events = document["events"]
    assert isinstance(events, list)
    up = next(e["t"] for e in events if e["what"].startswith("deploy: 2 new dynos up"))
    stopped = next(e["t"] for e in events if e["what"].startswith("deploy: 2 old dynos stopped"))
    refused = next(e["t"] for e in events if e["what"].startswith("postgres refused"))
    assert up - 1 <= refused <= stopped  # refusals come with the overlap
    assert stopped - up >= 4
    # the prediction doubles when the new dynos were up and halves when the old ones had stopped
    run_dir = Path(str(document["run_dir"]))
    steps = sorted({float(r["t"]) for r in rows(run_dir, "predicted.csv") if r["resource"] == "postgres"})
    assert steps == [0.0, up, stopped]


"""The arithmetic, against numbers computed by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.plan import load_plan, parse_plan
from harness.predict import AT_RISK, EXHAUSTS, FITS, forecast, predict

SCENARIOS = Path(__file__).resolve().parents[1] / "harness" / "scenarios"


def plan_of(web: dict[str, object], *, max_connections: int = 100, reserved: int = 3,
            worker: dict[str, object] | None = None, extras: list[dict[str, object]] | None = None,
            app: str = "python", enqueue_share: float = 0.0, maxclients: int = 100,
            events: list[dict[str, object]] | None = None):  # type: ignore[no-untyped-def]
    raw: dict[str, object] = {
        "app": app,
        "postgres": {"max_connections": max_connections, "superuser_reserved_connections": reserved},
        "redis": {"maxclients": maxclients},
        "tiers": {"web": web, **({"worker": worker} if worker else {})},
        "traffic": {"query_ms": 100, "enqueue_share": enqueue_share,
                    "stages": [{"duration_s": 10, "users": 1}]},
    }
    if extras:
        raw["extras"] = extras
    if events:
        raw["events"] = events
    return parse_plan(raw, Path("test.yaml"))


def test_two_dynos_two_processes_two_threads_is_eight_not_six() -> None:
    pg = predict(plan_of({"dynos": 2, "processes": 2, "threads": 2, "pool": 5})).resource("postgres")
    assert pg.expected == 8  # 2 x 2 x 2; the article's 6 is wrong
    assert pg.worst_case == 20  # 2 x 2 x 5
    assert [(g.group, g.expected, g.worst_case) for g in pg.groups] == [("web.1", 4, 10), ("web.2", 4, 10)]


def test_shipped_dynos_scenario_matches_hand_figures() -> None:
    pg = predict(load_plan(SCENARIOS / "dynos-2x2x2.yaml")).resource("postgres")
    assert (pg.expected, pg.worst_case, pg.capacity, pg.status) == (8, 20, 27, FITS)


def test_threads_above_pool_cap_busy_connections_and_flag_starvation() -> None:
    prediction = predict(plan_of({"dynos": 1, "processes": 3, "threads": 5, "pool": 2}))
    pg = prediction.resource("postgres")
    assert (pg.expected, pg.worst_case) == (6, 6)  # 3 x min(5, 2), 3 x 2
    assert prediction.pool_starvation == ("web: 5 threads share a pool of 2",)


def test_worker_and_extras_add_their_groups() -> None:
    plan = plan_of({"dynos": 4, "processes": 2, "threads": 5, "pool": 5},
                   worker={"processes": 2, "concurrency": 10, "pool": 12},
                   extras=[{"group": "rake", "count": 3, "hold_s": 5},
                           {"group": "console", "count": 1, "hold_s": 5, "connections": 2}])
    pg = predict(plan).resource("postgres")
    # web 4 x 2 x 5 = 40; worker 2 x min(10, 12) = 20; rake 3; console 2
    assert pg.expected == 40 + 20 + 3 + 2
    # web 4 x 2 x 5 = 40; worker 2 x 12 = 24; extras 5
    assert pg.worst_case == 40 + 24 + 5
    assert {g.group for g in pg.groups} == {"web.1", "web.2", "web.3", "web.4", "worker.1", "worker.2",
                                            "rake", "console"}


def test_capacity_is_the_production_formula_with_no_harness_term() -> None:
    web = {"dynos": 1, "processes": 1, "threads": 1, "pool": 1}
    assert predict(plan_of(web, max_connections=100, reserved=3)).resource("postgres").capacity == 97
    assert predict(plan_of(web, max_connections=10, reserved=0)).resource("postgres").capacity == 10


@pytest.mark.parametrize(("max_connections", "status"), [(30, FITS), (15, AT_RISK), (8, AT_RISK), (7, EXHAUSTS)])
def test_status_thresholds(max_connections: int, status: str) -> None:
    # expected 2 x 2 x 2 = 8, worst 2 x 2 x 5 = 20; capacity = max (no reserved slots)
    plan = plan_of({"dynos": 2, "processes": 2, "threads": 2, "pool": 5}, max_connections=max_connections,
                   reserved=0)
    assert predict(plan).resource("postgres").status == status


def test_redis_sidekiq_rule_and_web_enqueue_threads() -> None:
    plan = plan_of({"dynos": 2, "processes": 2, "threads": 3, "pool": 3}, app="rails", enqueue_share=0.5,
                   worker={"processes": 2, "concurrency": 10, "pool": 10})
    redis = predict(plan).resource("redis")
    # web: 2 dynos x 2 x 3 threads = 12; Sidekiq: (10 + 1) expected, (10 + 5) ceiling per process
    assert redis.expected == 12 + 2 * 11
    assert redis.worst_case == 12 + 2 * 15
    assert redis.capacity == 100


def test_scaling_events_give_the_final_topology() -> None:
    plan = plan_of({"dynos": 2, "processes": 2, "threads": 2, "pool": 2}, max_connections=20, reserved=0,
                   events=[{"at_s": 2, "action": "scale", "dynos": 4}, {"at_s": 5, "action": "scale", "dynos": 6}])
    result = forecast(plan)
    assert result.initial.resource("postgres").expected == 8
    assert [p.resource("postgres").expected for _, p in result.after_events] == [16, 24]
    assert result.final.resource("postgres").status == EXHAUSTS  # 24 > 19
    assert result.initial.resource("postgres").status == FITS


def test_cron_bursts_that_outlast_their_interval_overlap() -> None:
    # bursts at 0, 2, 4, 6, 8 s of a 10 s run, each holding 3 s: two hold at once (e.g. at t = 2)
    plan = plan_of({"dynos": 1, "processes": 1, "threads": 1, "pool": 1},
                   extras=[{"group": "rake", "count": 2, "at_s": 0, "every_s": 2, "hold_s": 3}])
    rake = next(g for g in predict(plan).resource("postgres").groups if g.group == "rake")
    assert (rake.expected, rake.worst_case) == (4, 4)  # 2 tasks x 2 overlapping bursts
    assert plan.extras[0].start_times(10) == (0, 2, 4, 6, 8)


def test_preboot_deploy_doubles_the_web_tier_while_both_sets_run() -> None:
    plan = plan_of({"dynos": 2, "processes": 2, "threads": 2, "pool": 2}, max_connections=15, reserved=3,
                   events=[{"at_s": 2, "action": "deploy", "overlap_s": 4}])
    result = forecast(plan)
    [(t1, overlap), (t2, after)] = result.after_events
    assert (t1, overlap.resource("postgres").expected, overlap.resource("postgres").status) == (2, 16, EXHAUSTS)
    assert (t2, after.resource("postgres").expected) == (6, 8)
    assert result.initial.resource("postgres").status == FITS  # 8 of 12

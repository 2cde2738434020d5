"""The arithmetic, against numbers computed by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.plan import load_plan, parse_plan
from harness.predict import AT_RISK, EXHAUSTS, FITS, forecast, predict

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def plan_of(web: dict[str, object], *, max_connections: int = 100, reserved: int = 3,
            worker: dict[str, object] | None = None, extras: list[dict[str, object]] | None = None,
            app: str = "python", enqueue_share: float = 0.0, maxclients: int = 100,
            events: list[dict[str, object]] | None = None, cache_share: float = 0.0,
            job_redis_ms: int = 0):  # type: ignore[no-untyped-def]
    raw: dict[str, object] = {
        "app": app,
        "postgres": {"max_connections": max_connections, "superuser_reserved_connections": reserved},
        "redis": {"maxclients": maxclients},
        "tiers": {"web": web, **({"worker": worker} if worker else {})},
        "traffic": {"query_ms": 100, "enqueue_share": enqueue_share, "cache_share": cache_share,
                    "job_redis_ms": job_redis_ms, "stages": [{"duration_s": 10, "users": 1}]},
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
                           {"group": "console", "count": 1, "hold_s": 5, "connections": 2}], enqueue_share=0.2)
    pg = predict(plan).resource("postgres")
    # web 4 x 2 x 5 = 40; worker 2 x min(10, 12) = 20; rake 3; console 2
    assert pg.expected == 40 + 20 + 3 + 2
    # web 4 x 2 x 5 = 40; worker 2 x 12 = 24; extras 5
    assert pg.worst_case == 40 + 24 + 5
    assert {g.group for g in pg.groups} == {"web.1", "web.2", "web.3", "web.4", "worker.1", "worker.2",
                                            "rake", "console"}


def test_tiers_the_traffic_never_reaches_open_nothing() -> None:
    web = {"dynos": 2, "processes": 2, "threads": 5, "pool": 5}
    worker = {"processes": 1, "concurrency": 5, "pool": 5}
    cache_only = predict(plan_of(web, worker=worker, cache_share=1.0)).resource("postgres")
    # no request queries Postgres, no job is enqueued: lazy pools open nothing; the worst case stays 2 x 2 x 5 + 5
    assert (cache_only.expected, cache_only.worst_case) == (0, 25)
    half = predict(plan_of(web, worker=worker, cache_share=0.5, enqueue_share=0.5)).resource("postgres")
    assert (half.expected, half.worst_case) == (5, 25)  # the worker's jobs query; the web never does


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


def test_redis_sidekiq_rule_and_web_enqueue_pool() -> None:
    plan = plan_of({"dynos": 2, "processes": 2, "threads": 3, "pool": 3}, app="rails", enqueue_share=0.5,
                   worker={"processes": 2, "concurrency": 10, "pool": 10})
    redis = predict(plan).resource("redis")
    # web: the Sidekiq client pool, 1 per process when enqueues do not overlap (2 dynos x 2 = 4), up to the
    # threads (2 x 2 x 3 = 12); Sidekiq: (10 + 1) expected, (10 + 5) its pool, per process
    assert redis.expected == 4 + 2 * 11
    assert redis.worst_case == 12 + 2 * 15
    assert redis.capacity == 100


def test_scaling_events_give_the_final_topology() -> None:
    plan = plan_of({"dynos": 2, "processes": 2, "threads": 2, "pool": 2}, max_connections=20, reserved=0,
                   events=[{"at_s": 2, "action": "scale", "dynos": 4}, {"at_s": 5, "action": "scale", "dynos": 6}])
    result = forecast(plan)
    assert result.initial.resource("postgres").expected == 8
    assert [c.prediction.resource("postgres").expected for c in result.after_events] == [16, 24]
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
    [start, end] = result.after_events
    assert (start.at_s, start.key) == (2, "events[0].start")
    assert (start.prediction.resource("postgres").expected, start.prediction.resource("postgres").status) == \
        (16, EXHAUSTS)
    assert (end.at_s, end.key, end.prediction.resource("postgres").expected) == (6, "events[0].end", 8)
    assert result.initial.resource("postgres").status == FITS  # 8 of 12


def redis_groups(plan, versions=None) -> dict[str, tuple[int, int]]:  # type: ignore[no-untyped-def]
    return {g.group: (g.expected, g.worst_case) for g in predict(plan, versions=versions).resource("redis").groups}


WEB_2X5 = {"dynos": 1, "processes": 2, "threads": 5, "pool": 5}


def test_redis_web_with_no_redis_traffic_opens_nothing() -> None:
    assert redis_groups(plan_of(WEB_2X5)) == {"web.1": (0, 0)}


def test_redis_cache_reads_only_hold_one_connection_per_thread() -> None:
    # every request a cache read: every thread reads at once, 2 processes x 5 threads; the pool is the threads
    assert redis_groups(plan_of(WEB_2X5, cache_share=1.0)) == {"web.1": (10, 10)}
    # two dynos: per dyno
    assert redis_groups(plan_of({**WEB_2X5, "dynos": 2}, cache_share=1.0)) == {"web.1": (10, 10), "web.2": (10, 10)}


def test_redis_cache_reads_beside_db_requests_are_load_dependent() -> None:
    # half the requests hold Postgres instead: sure of one cache connection per process, the pool at worst
    assert redis_groups(plan_of(WEB_2X5, cache_share=0.5)) == {"web.1": (2, 10)}


def test_redis_cache_and_enqueues_add_two_pools() -> None:
    # no /db requests: cache 2 x 5 exact; the job client pool 2 x 1 sure, 2 x 5 at worst
    plan = plan_of(WEB_2X5, cache_share=0.8, enqueue_share=0.2, worker={"concurrency": 5, "pool": 5})
    assert redis_groups(plan)["web.1"] == (10 + 2, 10 + 10)


def test_redis_enqueue_only_web_is_one_per_process_up_to_the_threads() -> None:
    # the Heroku-like plan: 2 dynos x 3 x 5, 2 Sidekiq x 10, Redis at 40 clients
    plan = plan_of({"dynos": 2, "processes": 3, "threads": 5, "pool": 5}, app="rails", enqueue_share=0.2,
                   worker={"processes": 2, "concurrency": 10, "pool": 10}, maxclients=40)
    redis = predict(plan).resource("redis")
    # web 2 x 3 x 1 = 6 sure, 2 x 3 x 5 = 30 at worst; Sidekiq 2 x 11 and 2 x 15
    assert (redis.expected, redis.worst_case) == (6 + 22, 30 + 30)
    assert redis.status == AT_RISK  # 28 fit in 40, 60 do not: the run observed 38 and refused nothing


@pytest.mark.parametrize(("app", "kind", "expected", "worst"), [
    ("rails", "threaded", 5 + 1, 5 + 5),   # Sidekiq: a BRPOP per processor + the heartbeat; its pool C + 5
    ("python", "threaded", 1, 5 + 2),      # dramatiq: two consumers sharing 1, 2 when fetches overlap; + acks
    ("python", "forking", 3 * 5, 4 * 5),   # RQ: 2 per worker + 1 per running horse; a horse's second
    ("rails", "forking", 2 * 5, 2 * 5),    # Resque-style: each worker's BLPOP + its running child's own
])
def test_redis_worker_rules(app: str, kind: str, expected: int, worst: int) -> None:
    plan = plan_of(WEB_2X5, app=app, enqueue_share=0.5, worker={"concurrency": 5, "pool": 5, "kind": kind})
    assert redis_groups(plan)["worker.1"] == (expected, worst)
    # jobs that read the cache add the worker's cache pool: 1 sure, C at worst
    cached = plan_of(WEB_2X5, app=app, enqueue_share=0.5, job_redis_ms=100,
                     worker={"concurrency": 5, "pool": 5, "kind": kind})
    assert redis_groups(cached)["worker.1"] == (expected + 1, worst + 5)


@pytest.mark.parametrize(("app", "safety", "expected", "worst"), [
    ("rails", "safe", 5, 5),        # one per running child; the parent's before_fork one is closed before the fork
    ("rails", "unsafe", 5 + 1, 5 + 1),  # + the one the parent opened at boot, beside every child's own
    ("python", "safe", 5, 5),
    ("python", "unsafe", 5, 5 + 1),
])
def test_postgres_forking_worker_rules(app: str, safety: str, expected: int, worst: int) -> None:
    plan = plan_of(WEB_2X5, app=app, enqueue_share=0.5,
                   worker={"concurrency": 5, "pool": 1, "kind": "forking", "fork_safety": safety})
    groups = {g.group: (g.expected, g.worst_case) for g in predict(plan).resource("postgres").groups}
    assert groups["worker.1"] == (expected, worst)


@pytest.mark.parametrize(("name", "pg", "redis"), [
    ("rails-forking-worker-unsafe", (3 + 1, 3 + 1), (2 * 3, 2 * 3)),
    ("rails-forking-worker-safe", (3, 3), (2 * 3, 2 * 3)),
])
def test_shipped_rails_forking_worker_scenarios(name: str, pg: tuple[int, int], redis: tuple[int, int]) -> None:
    prediction = predict(load_plan(SCENARIOS / f"{name}.yaml"))
    for resource, figures in (("postgres", pg), ("redis", redis)):
        worker = next(g for g in prediction.resource(resource).groups if g.group == "worker.1")
        assert (worker.expected, worker.worst_case) == figures


@pytest.mark.parametrize(("name", "expected", "worst", "capacity", "status"), [
    ("rails-redis-full", 2 * (5 + 1) + (5 + 1) + 1, 2 * (5 + 5) + (5 + 5) + 5, 16, EXHAUSTS),
    ("rails-redis-fits", 2 * 5 + (5 + 1), 2 * 5 + (5 + 5), 16, AT_RISK),
    ("redis-full", 2 * (5 + 1) + 1 + 1, 2 * (5 + 5) + (5 + 2) + 5, 12, EXHAUSTS),
    ("redis-fits", 2 * 5 + 1, 2 * 5 + (5 + 2), 12, AT_RISK),
])
def test_shipped_redis_scenarios_match_hand_figures(name: str, expected: int, worst: int, capacity: int,
                                                    status: str) -> None:
    redis = predict(load_plan(SCENARIOS / f"{name}.yaml")).resource("redis")
    assert (redis.expected, redis.worst_case, redis.capacity, redis.status) == (expected, worst, capacity, status)


# -- versions --------------------------------------------------------------------------------------------------


def test_rails_checkout_scenario_per_request_on_61_per_query_on_72() -> None:
    plan = load_plan(SCENARIOS / "rails-checkout.yaml")
    # Rails 6.1: a request keeps its connection through the work: 2 dynos x 1 x min(8, 8) = 16 > 12
    old = predict(plan, versions={"rails": "6.1.7.10"}).resource("postgres")
    assert (old.expected, old.worst_case, old.capacity, old.status) == (16, 16, 12, EXHAUSTS)
    # Rails 7.2: in a query 20 / (20 + 480) of the time: ceil(8 x 0.04) = 1 per process sure, 8 at worst
    new = predict(plan, versions={"rails": "7.2.2.2"}).resource("postgres")
    assert (new.expected, new.worst_case, new.status) == (2, 16, AT_RISK)
    # no versions given: Debian bookworm's Rails 6.1
    assert predict(plan).resource("postgres").expected == 16


def test_per_query_checkout_is_capped_by_threads_and_pool_and_needs_work() -> None:
    base = load_plan(SCENARIOS / "rails-checkout.yaml")
    heavy = replace(base, traffic=replace(base.traffic, query_ms=400, work_ms=100))
    # ceil(8 x 400 / 500) = ceil(6.4) = 7 per process
    assert predict(heavy, versions={"rails": "7.2"}).resource("postgres").expected == 2 * 7
    starved = replace(heavy, web=replace(heavy.web, pool=3))
    assert predict(starved, versions={"rails": "7.2"}).resource("postgres").expected == 2 * 3
    # no work phase: the request is its query, the same on every version
    plain = replace(base, traffic=replace(base.traffic, work_ms=0))
    assert predict(plain, versions={"rails": "7.2"}).resource("postgres").expected == 16
    # the twin's /db checks out per query too
    twin = replace(base, app="python")
    assert predict(twin).resource("postgres").expected == 2


@pytest.mark.parametrize(("sidekiq", "worst"), [("6.4.1", 5 + 5), ("7.3.2", 5 + 10), (None, 5 + 5)])
def test_sidekiq_7_adds_an_internal_pool_of_ten(sidekiq: str | None, worst: int) -> None:
    plan = plan_of(WEB_2X5, app="rails", enqueue_share=0.5, worker={"concurrency": 5, "pool": 5})
    versions = {"sidekiq": sidekiq} if sidekiq else {}
    assert redis_groups(plan, versions)["worker.1"] == (5 + 1, worst)


def test_unicorn_one_thread_per_worker_and_a_connection_made_in_the_preloaded_master() -> None:
    pool_5 = predict(load_plan(SCENARIOS / "rails-unicorn-pool-5.yaml")).resource("postgres")
    # 3 dynos x 3 workers x min(1 thread, pool 5) = 9 fits 27; every pool full, 3 x 3 x 5 = 45: at-risk
    assert (pool_5.expected, pool_5.worst_case, pool_5.capacity, pool_5.status) == (9, 45, 27, AT_RISK)
    safe = predict(load_plan(SCENARIOS / "rails-unicorn-safe.yaml")).resource("postgres")
    assert (safe.expected, safe.worst_case, safe.status) == (9, 9, FITS)
    # unsafe: per dyno the master's ActiveRecord connection + the raw one its workers share, whatever P;
    # worst: each worker's pool full besides (2 + 3 x 5)
    unsafe = predict(load_plan(SCENARIOS / "rails-unicorn-fork-unsafe.yaml")).resource("postgres")
    assert [(g.group, g.expected, g.worst_case) for g in unsafe.groups] == [
        ("web.1", 2, 17), ("web.2", 2, 17), ("web.3", 2, 17)]
    puma = predict(plan_of({"processes": 4, "threads": 2, "pool": 2, "fork_safety": "unsafe"}, app="rails"))
    assert [(g.expected, g.worst_case) for g in puma.resource("postgres").groups] == [(2, 10)]


def test_python_fork_unsafe_web_counts_the_shared_connection_and_replacements() -> None:
    plan = load_plan(SCENARIOS / "fork-unsafe.yaml")
    pg = predict(plan).resource("postgres")
    # 1 dyno x 3 processes x min(2 threads, pool 2) = 6 steady; worst: the master's shared connection + each of
    # the 6 pool slots replaced while its broken predecessor still counts: 1 + 2 x 3 x 2 = 13
    assert (pg.expected, pg.worst_case) == (6, 13)

"""The Django twin without servers: its prediction per mode, the verdict on a pool behind a full server, the
errors it reports, its settings and DATABASES. (tests/test_e2e_django.py runs it for real.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.check.arith import pool_figures
from harness.check.model import Pool, Setting
from harness.observation import ErrorTally, LoadResult, Observation, ResourceObservation
from harness.plan import load_plan, parse_plan
from harness.predict import EXHAUSTS, FITS, forecast, predict
from harness.verdict import classify_error, judge

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
TWIN = ROOT / "stacks" / "python"

pytest.importorskip("django", reason="the Django twin needs Django: pip install 'Django>=5.1' psycopg-pool")


def plan_of(django: dict[str, Any], *, threads: int = 3, processes: int = 2, pool: int = 5,
            max_connections: int = 100, cache_share: float = 0.0) -> Any:
    return parse_plan({
        "app": "python", "orm": "django", "django": django,
        "postgres": {"max_connections": max_connections, "superuser_reserved_connections": 0},
        "redis": {"maxclients": 100},
        "tiers": {"web": {"dynos": 2, "processes": processes, "threads": threads, "pool": pool}},
        "traffic": {"query_ms": 100, "work_ms": 400, "cache_share": cache_share,
                    "stages": [{"duration_s": 5, "users": 1}]},
    }, Path("t.yaml"))


@pytest.mark.parametrize(("django", "per_process", "starved"), [
    # a session per request: T busy; 2T at worst, each thread's previous session still exiting
    ({"conn_max_age": 0}, (3, 6), ()),
    # one per thread, kept
    ({"conn_max_age": 60}, (3, 3), ()),
    # the pool: max(min_size, min(T, max_size)), worst max_size
    ({"pool": {"min_size": 4, "max_size": 4}}, (4, 4), ()),
    ({"pool": {"min_size": 1, "max_size": 8}}, (3, 8), ()),
    ({"pool": {"min_size": 0, "max_size": 2}}, (2, 2), ("web: 3 threads share Django's pool of max_size 2",)),
])
def test_per_mode_figures(django: dict[str, Any], per_process: tuple[int, int], starved: tuple[str, ...]) -> None:
    # tiers.web.pool (5) is the SQLAlchemy twin's, and work_ms changes nothing: Django holds per request
    prediction = predict(plan_of(django))
    pg = prediction.resource("postgres")
    assert [(g.group, g.expected, g.worst_case) for g in pg.groups] == [
        (f"web.{i}", 2 * per_process[0], 2 * per_process[1]) for i in (1, 2)]
    assert prediction.pool_starvation == starved


def test_no_query_opens_no_connection_not_even_the_pools_min_size() -> None:
    pg = predict(plan_of({"pool": {"min_size": 4, "max_size": 6}}, cache_share=1.0)).resource("postgres")
    assert (pg.expected, pg.worst_case) == (0, 24)


def test_connlab_check_agrees_except_conn_max_age_0s_worst_case() -> None:
    size, low = Setting(value=6, source="t"), Setting(value=4, source="t")
    per_thread = Pool(database="default", kind="django-per-thread", size=Setting(value=3, source="t"))
    assert pool_figures(Pool(database="default", kind="django-pool", size=size, min_size=low), 3)[:2] == (4, 6)
    assert pool_figures(per_thread, 3)[:2] == (3, 3)
    plan = plan_of({"pool": {"min_size": 4, "max_size": 6}}, processes=1)
    assert [(g.expected, g.worst_case) for g in predict(plan).resource("postgres").groups][0] == (4, 6)
    # CONN_MAX_AGE > 0 agrees; 0 counts the sessions still exiting at worst (check has one kind for both: T, T)
    assert [(g.expected, g.worst_case) for g in predict(plan_of({"conn_max_age": 60}, processes=1))
            .resource("postgres").groups][0] == (3, 3)
    assert [(g.expected, g.worst_case) for g in predict(plan_of({"conn_max_age": 0}, processes=1))
            .resource("postgres").groups][0] == (3, 6)


@pytest.mark.parametrize(("name", "expected", "worst", "status"), [
    ("django-conn-max-age-0", 6, 12, FITS), ("django-persistent", 6, 6, FITS), ("django-pool", 8, 8, FITS),
    ("django-pool-timeout", 2, 2, FITS), ("django-too-many-clients", 12, 24, EXHAUSTS),
    ("django-pool-server-full", 12, 12, EXHAUSTS),
])
def test_shipped_scenarios(name: str, expected: int, worst: int, status: str) -> None:
    pg = predict(load_plan(SCENARIOS / f"{name}.yaml")).resource("postgres")
    assert (pg.expected, pg.worst_case, pg.status) == (expected, worst, status)


def _observation(plan_text: str, *, rejected: int, timeouts: int) -> Observation:
    plan = parse_plan(yaml.safe_load(plan_text), Path("s.yaml"))
    seen = ResourceObservation(name="postgres", peak=8, peak_method="log-events", sampled_peak=8,
                               rejected=rejected, by_group={"web.1": 4, "web.2": 4})
    idle = ResourceObservation(name="redis", peak=0, peak_method="sampled", sampled_peak=0, rejected=0, by_group={})
    errors = (ErrorTally(error_class="psycopg_pool.PoolTimeout", message="couldn't get a connection after N sec",
                         count=timeouts, first_s=1.0),)
    return Observation(plan=plan, forecast=forecast(plan), run_dir=Path("."), resources=(seen, idle),
                       load=LoadResult(total=50, failed=timeouts, errors=errors, failures_per_second={}),
                       job_errors=(), events=(), startup_s={}, stack_up_s=0.0, duration_s=0.0)


def test_pool_timeouts_behind_a_full_server_are_the_refusals_not_a_broken_prediction() -> None:
    text = (SCENARIOS / "django-pool-server-full.yaml").read_text()
    verdict = judge(_observation(text, rejected=9, timeouts=9))
    assert verdict.prediction_held and not verdict.config_fits and verdict.expectations_met
    assert any("retries refused connections in the background" in note for note in verdict.notes)
    # the same timeouts with the server never full: no pool is smaller than its threads, so they break it
    roomy = text.replace("max_connections: 8,", "max_connections: 30,").replace("exhausted: true, rejected: {min: 1}",
                                                                                "exhausted: false")
    verdict = judge(_observation(roomy, rejected=0, timeouts=9))
    assert not verdict.prediction_held
    assert "9 pool timeout(s) although no pool is smaller than its threads" in verdict.failures


def _twin(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter with the twin on sys.path and ``env`` (the settings it reads)."""
    base = {"CONNLAB_DATABASE_URL": "postgresql://connlab_app@127.0.0.1:5999/connlab?sslmode=require",
            "CONNLAB_REDIS_URL": "redis://127.0.0.1:6999/0", "CONNLAB_GROUP": "web.2", "CONNLAB_POOL": "3",
            "CONNLAB_CHECKOUT_TIMEOUT_S": "5", "CONNLAB_PORT": "8000", "CONNLAB_WORKERS": "1",
            "CONNLAB_THREADS": "3", "CONNLAB_ORM": "django", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=TWIN,
                            env={**base, **env}, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_databases_from_the_settings_as_a_settings_py_has_them() -> None:
    code = "import json; from connlab_twin import django_app; print(json.dumps(django_app.settings.DATABASES))"
    import json

    pooled = json.loads(_twin(code, CONNLAB_DJANGO_POOL_MIN="1", CONNLAB_DJANGO_POOL_MAX="2",
                              CONNLAB_DJANGO_POOL_TIMEOUT_S="0.5"))["default"]
    assert {k: pooled[k] for k in ("ENGINE", "NAME", "USER", "HOST", "PORT", "CONN_MAX_AGE", "OPTIONS")} == {
        "ENGINE": "django.db.backends.postgresql", "NAME": "connlab", "USER": "connlab_app", "HOST": "127.0.0.1",
        "PORT": "5999", "CONN_MAX_AGE": 0,
        "OPTIONS": {"application_name": "web.2", "sslmode": "require",
                    "pool": {"min_size": 1, "max_size": 2, "timeout": 0.5}}}
    kept = json.loads(_twin(code, CONNLAB_CONN_MAX_AGE="60"))["default"]
    assert kept["CONN_MAX_AGE"] == 60 and "pool" not in kept["OPTIONS"]


def test_a_pool_with_persistent_connections_is_refused_as_django_would() -> None:
    result = subprocess.run([sys.executable, "-c", "from connlab_twin import config; config.web()"],
                            capture_output=True, text=True, cwd=TWIN, timeout=60, env={
                                "CONNLAB_DATABASE_URL": "postgresql://a@127.0.0.1:1/b", "CONNLAB_GROUP": "web.1",
                                "CONNLAB_POOL": "1", "CONNLAB_CHECKOUT_TIMEOUT_S": "1", "CONNLAB_REDIS_URL": "r",
                                "CONNLAB_PORT": "1", "CONNLAB_WORKERS": "1", "CONNLAB_THREADS": "1",
                                "CONNLAB_ORM": "django", "CONNLAB_CONN_MAX_AGE": "60",
                                "CONNLAB_DJANGO_POOL_MAX": "2"})
    assert result.returncode == 2
    assert "CONNLAB_CONN_MAX_AGE=60 must be 0 with a pool" in result.stderr


def test_errors_name_the_drivers_exception_behind_djangos() -> None:
    code = """
import django.db.utils, psycopg, psycopg_pool
from connlab_twin import errors
def wrapped(driver):
    try:
        raise django.db.utils.OperationalError(*driver.args) from driver
    except Exception as exc:
        return exc
for exc in (wrapped(psycopg_pool.PoolTimeout("couldn't get a connection after 0.50 sec")),
            wrapped(psycopg.OperationalError('connection failed: connection to server at "127.0.0.1", port 5 '
                                             'failed: FATAL:  sorry, too many clients already')),
            psycopg_pool.PoolTimeout("couldn't get a connection after 1.00 sec")):
    reply = errors.describe(exc)
    print(reply.status, "|", reply.name, "|", reply.message)
"""
    lines = [line.split(" | ") for line in _twin(code).splitlines()]
    assert lines == [
        ["503 Service Unavailable", "psycopg_pool.PoolTimeout", "couldn't get a connection after 0.50 sec"],
        ["502 Bad Gateway", "psycopg.OperationalError", 'connection failed: connection to server at "127.0.0.1", '
         "port 5 failed: FATAL:  sorry, too many clients already"],
        ["503 Service Unavailable", "psycopg_pool.PoolTimeout", "couldn't get a connection after 1.00 sec"],
    ]
    assert [classify_error(name, message) for _, name, message in lines] == ["pool_timeout", "server_full",
                                                                            "pool_timeout"]

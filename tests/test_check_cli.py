"""connlab check end to end on the fixture apps: the figures with their sources, the sweep, the advice, the exit
codes, in under a second; the written scenario; and --run proving one Rails and one Python fixture for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.plan import load_plan
from harness.predict import predict
from tests.helpers_check import APPS, _run_and_judge, check
from tests.helpers_e2e import needs_rails, resource


def test_rails_app_figures_sources_sweep_and_advice() -> None:
    done, seconds = check(str(APPS / "rails72-sidekiq"), "--formation", "web=4,worker=2", "--autoscale", "web=2..10",
                          "--postgres-max-connections", "60", "--redis-maxclients", "40", "--json")
    assert done.returncode == 6, done.stderr  # exhausts within the range
    print(f"connlab check rails72-sidekiq: {seconds:.2f} s")  # a figure, not an assertion
    answer = json.loads(done.stdout)
    web = next(p for p in answer["process_types"] if p["name"] == "web")
    # WEB_CONCURRENCY unset: 2 workers (puma.rb:18); RAILS_MAX_THREADS unset: 3 threads (puma.rb:14); pool 5
    assert (web["processes"]["value"], web["threads"]["value"], web["pools"][0]["size"]) == (2, 3, 5)
    assert web["processes"]["source"].startswith("config/puma.rb:18")
    assert web["threads"]["source"].startswith("config/puma.rb:14")
    assert web["pools"][0]["source"].startswith("config/database.yml:7")
    postgres = answer["resources"][0]
    # web 4 dynos (the formation) x 2 x min(3, 5) = 24, worst 4 x 2 x 5 = 40;
    # worker 2 x 1 x min(10 concurrency, pool 5) = 10, worst 10; release apart (2)
    assert (postgres["expected"], postgres["worst_case"], postgres["capacity"]) == (34, 50, 57)
    assert postgres["release"]["expected"] == 2
    # sweep: expected 6n + 10, worst 10n + 10 against 57: fits while 10n + 10 <= 57 (n <= 4), exhausts once
    # 6n + 10 > 57 (n >= 8)
    assert answer["autoscale"]["largest_fitting"]["postgres"] == 4
    assert answer["autoscale"]["first_exhausting"]["postgres"] == 8
    # Redis: Sidekiq 7 (Gemfile.lock): workers 2 x (10 + 1) expected, 2 x (10 + 10) worst; the web's Sidekiq
    # client (the internal pool 10): 4 x 2 x 1 expected, 4 x 2 x min(3 threads, 10) worst: 22 + 8 = 30, 40 + 24 = 64
    assert answer["resources"][1]["expected"] == 30 and answer["resources"][1]["worst_case"] == 64
    assert any("pool 5 < 10 threads" in line for line in answer["advice"])
    assert any(line.startswith("pgbouncer") for line in answer["advice"])


def test_tables_name_every_source_and_the_exit_code_gates() -> None:
    done, _ = check(str(APPS / "rails72-sidekiq"), "--formation", "web=1,worker=1", "--postgres-max-connections",
                    "200")
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    for needle in ("config/puma.rb:18", "config/sidekiq.yml:2", "config/database.yml:7", "status: fits",
                   "release (deploys only)"):
        assert needle in out, needle
    # only the worst case over: at-risk, exit 7 (web 1 x 2 x 3 = 6 + worker 5 = 11; worst 10 + 5 = 15; capacity 12)
    done, _ = check(str(APPS / "rails72-sidekiq"), "--formation", "web=1,worker=1", "--postgres-max-connections", "15")
    assert done.returncode == 7, done.stdout[-500:]


def test_broken_files_get_clear_lines_and_no_traceback() -> None:
    done, _ = check(str(APPS / "rails-broken"), "--postgres-max-connections", "20")
    out = " ".join(done.stdout.split())
    assert "Traceback" not in done.stdout + done.stderr
    assert "config/database.yml:9: NoMethodError" in out and "--set web.pool=N" in out
    assert "RAILS_MAX_THREADS is not set; --env RAILS_MAX_THREADS=... or --set web.threads=N" in out
    done, _ = check(str(APPS / "nowhere"))
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "not a folder" in done.stderr
    done, _ = check(str(APPS / "rails72-sidekiq"), "--formation", "wbe=2")
    assert done.returncode == 2 and "no process type 'wbe'" in done.stderr


def test_the_written_scenario_predicts_what_check_says(tmp_path: Path) -> None:
    scenario = tmp_path / "plan.yaml"
    done, _ = check(str(APPS / "rails72-sidekiq"), "--formation", "worker=1", "--autoscale", "web=1..3",
                    "--postgres-max-connections", "60", "--json", "--write-scenario", str(scenario))
    assert done.returncode in (0, 7), done.stderr
    answer = json.loads(done.stdout)
    top = answer["autoscale"]["points"][-1]["postgres"]
    plan = load_plan(scenario)
    assert (plan.web.dynos, plan.web.processes, plan.web.threads, plan.web.pool) == (3, 2, 3, 5)
    assert yaml.safe_load(scenario.read_text())["app"] == "rails"
    predicted = predict(plan).resource("postgres")
    assert (predicted.expected, predicted.worst_case) == (top["expected"], top["worst_case"])  # 23 / 35


def test_python_apps_figures_and_sources() -> None:
    done, seconds = check(str(APPS / "django-celery"), "--formation", "web=2,worker=1", "--postgres-max-connections",
                          "100", "--json")
    print(f"connlab check django-celery: {seconds:.2f} s")
    answer = json.loads(done.stdout)
    web = next(p for p in answer["process_types"] if p["name"] == "web")
    assert (web["processes"]["value"], web["threads"]["value"]) == (3, 4)
    assert web["processes"]["source"].startswith("gunicorn.conf.py:4")
    # web: 2 dynos x 3 x (default: 4 threads, one connection each + reports: max(min 2, min(4, max 4)) = 4) = 48;
    # worker: 1 x 8 prefork processes x (1 + max(2, 1)) = 24, worst 8 x (1 + 4) = 40
    postgres = answer["resources"][0]
    assert (postgres["expected"], postgres["worst_case"]) == (48 + 24, 48 + 40)
    assert answer["problems"] == []
    done, _ = check(str(APPS / "flask-sqlalchemy"), "--formation", "web=1,worker=1", "--json")
    answer = json.loads(done.stdout)
    # SQLAlchemy's pool is not read from the code: unknown, counted at its least (1 + 1): web 1 x 4 x min(2 threads,
    # 1 + 1) = 8, worst 4 x 2 = 8 -- a lower bound, so incomplete (exit 8), never "fits"
    assert (answer["resources"][0]["types"][0]["expected"], answer["resources"][0]["types"][0]["worst_case"]) == \
        (8, 8)
    assert answer["status"] == "incomplete" and done.returncode == 8
    assert "web.pool (--set sqlalchemy.pool_size=N)" in answer["missing"]
    assert "web.pool max_overflow (--set sqlalchemy.max_overflow=N)" in answer["missing"]


@pytest.mark.e2e
def test_run_reproduces_the_python_fixture(tmp_path: Path) -> None:
    # flask-sqlalchemy with the pool given as flags: web 2 dynos x 4 x min(2 threads, 2 + 0) = 16 of capacity 16
    document = _run_and_judge("flask-sqlalchemy", ["--formation", "worker=0", "--autoscale", "web=1..2",
                                                   "--postgres-max-connections", "19", "--set",
                                                   "sqlalchemy.pool_size=2,sqlalchemy.max_overflow=0"], tmp_path)
    pg = resource(document, "postgres")
    assert pg["predicted"]["expected"] == 16 and pg["observed"]["peak"] == 16  # type: ignore[index]


@pytest.mark.e2e
@needs_rails
def test_run_reproduces_the_rails_fixture_at_the_top_of_the_range(tmp_path: Path) -> None:
    # web 2 dynos x 2 x min(3, 5) = 12 + worker 1 x min(10, 5) = 5: 17 of capacity 20 - 3 = 17, worst 25: at-risk
    document = _run_and_judge("rails72-sidekiq", ["--formation", "worker=1", "--autoscale", "web=1..2",
                                                  "--postgres-max-connections", "20"], tmp_path)
    pg = resource(document, "postgres")
    assert pg["predicted"]["expected"] == 17 and pg["observed"]["peak"] == 17  # type: ignore[index]


def test_a_type_the_formation_leaves_out_runs_one_dyno_and_its_unknowns_count() -> None:
    # rails-resque-pool: resque-pool's workers come from the processor count (unknown). Without --formation every
    # type runs one dyno, as foreman and compose run one of each: the unknown enters the total, exit 8, never fits
    args = (str(APPS / "rails-resque-pool"), "--postgres-max-connections", "100", "--redis-maxclients", "100")
    done, _ = check(*args, "--json")
    answer = json.loads(done.stdout)
    assert done.returncode == 8, done.stderr
    assert answer["status"] == "incomplete"
    assert answer["missing"] == ["workers.processes (--set workers.processes=N)"]
    assert {t["name"]: t["dynos"] for t in answer["resources"][0]["types"]} == {"web": 1, "workers": 1, "mail": 1}
    # the tables mark the unknown figure and the total as a least value
    done, _ = check(*args)
    out = " ".join(done.stdout.split())
    assert done.returncode == 8 and "unknown: workers.processes (--set workers.processes=N)" in out
    assert "status: incomplete" in out
    # said not to run, or given: whole again
    done, _ = check(*args, "--formation", "workers=0")
    assert done.returncode == 0, done.stdout[-800:]
    done, _ = check(*args, "--set", "workers.processes=4", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["missing"] == []

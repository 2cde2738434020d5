"""Scenario validation: every problem at once, one clear line each, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import PlanError
from harness.plan import load_plan

ROOT = Path(__file__).resolve().parents[1]
GOOD = """
app: python
postgres: {max_connections: 20}
redis: {maxclients: 20}
tiers:
  web: {dynos: 1, processes: 1, threads: 2, pool: 2}
traffic:
  query_ms: 100
  stages: [{duration_s: 2, users: 2}]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_every_shipped_scenario_is_valid() -> None:
    for path in sorted((ROOT / "harness" / "scenarios").glob("*.yaml")):
        assert load_plan(path).name == path.stem


def test_a_good_file_parses(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, GOOD))
    assert plan.web.threads == 2 and plan.web.checkout_timeout_s == 5.0 and plan.worker is None


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    bad = GOOD.replace("threads: 2", "threads: 0").replace("pool: 2", "pool: -1").replace(
        "app: python", "app: django\ncolour: blue")
    with pytest.raises(PlanError) as caught:
        load_plan(write(tmp_path, bad))
    problems = caught.value.problems
    assert len(problems) == 4, problems
    text = "\n".join(problems)
    assert "tiers.web.threads: must be >= 1, got 0" in text
    assert "tiers.web.pool: must be >= 1, got -1" in text
    assert "app: must be one of python, rails, got 'django'" in text
    assert "colour: unknown key; allowed here:" in text
    assert all(p.startswith(str(tmp_path / "s.yaml")) for p in problems)


def test_wrong_types_are_named(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(write(tmp_path, GOOD.replace("query_ms: 100", "query_ms: fast")))
    assert caught.value.problems == [f"{tmp_path / 's.yaml'}: traffic.query_ms: must be an integer >= 0, "
                                     "got 'fast'"]


def test_event_outside_the_traffic_is_refused(tmp_path: Path) -> None:
    text = GOOD + "events: [{at_s: 9, action: scale, dynos: 2}]\n"
    with pytest.raises(PlanError, match=r"events\[0\]\.at_s: must fall within the traffic"):
        load_plan(write(tmp_path, text))


def test_cli_prints_one_line_per_problem_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("threads: 2", "threads: 0").replace("maxclients: 20", "maxclients: x"))
    result = subprocess.run([sys.executable, "-m", "harness", "run", str(path)], capture_output=True,
                            text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("connlab: ") for line in lines), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("text", ["{{{", "- just\n- a list\n"])
def test_unreadable_yaml_is_one_line(tmp_path: Path, text: str) -> None:
    result = subprocess.run([sys.executable, "-m", "harness", "predict", str(write(tmp_path, text))],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_missing_file_is_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "harness", "predict", "scenarios/nope.yaml"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "connlab: scenarios/nope.yaml: no such scenario file or shipped scenario; " \
                                    "`connlab scenarios` lists the shipped ones"


def test_predict_json_needs_no_server() -> None:
    result = subprocess.run([sys.executable, "-m", "harness", "predict", "--json", "dynos-2x2x2"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert '"expected": 8' in result.stdout and '"worst_case": 20' in result.stdout


def test_app_override_changes_the_redis_rule() -> None:
    result = subprocess.run([sys.executable, "-m", "harness", "predict", "--json", "--app", "rails",
                             "baseline"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    import json

    redis = next(r for r in json.loads(result.stdout)["initial"]["resources"] if r["name"] == "redis")
    worker = next(g for g in redis["groups"] if g["group"] == "worker.1")
    assert (worker["expected"], worker["worst_case"]) == (3, 7)  # Sidekiq at concurrency 2: C + 1, C + 5


def test_each_mistake_is_reported_once_in_the_users_words(tmp_path: Path) -> None:
    bad = GOOD.replace("app: python\n", "").replace("max_connections: 20", "max_connections: many") + \
        "events: [{at_s: 1, action: explode, dynos: 3}]\n"
    with pytest.raises(PlanError) as caught:
        load_plan(write(tmp_path, bad))
    where = tmp_path / "s.yaml"
    assert caught.value.problems == [
        f"{where}: postgres.max_connections: must be an integer >= 2, got 'many'",
        f"{where}: app: is required: one of python, rails",
        f"{where}: events[0].action: must be one of scale, deploy, kill_backends, restart_postgres, "
        "kill_redis_clients, got 'explode'",
    ]

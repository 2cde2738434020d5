"""End to end on the Django twin (``orm: django``): Django's own WSGI handler under gunicorn, real Postgres 18.

The shipped Django scenarios run through the CLI as a user runs them, two at a time to keep the file short
(about 30 s); each one's results.json validates against the shared contract, the prediction holds, its
expectations are met, and its figures are checked here again with the connections opened in all, counted
from Postgres' log (``connection authorized`` lines): the churn that tells the three modes apart when
their peaks do not. Nothing is left running afterwards.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import env_with_marker, processes_under
from tests.helpers_e2e import resource, validate

#: starts real servers, apps, Locust or the Docker engine (pytest -m "not e2e" leaves it out)
pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
#: in this order, two at a time: each light run beside a heavier one
SCENARIOS = ("django-conn-max-age-0", "django-pool-timeout", "django-persistent", "django-pool",
             "django-too-many-clients", "django-pool-server-full")
AT_ONCE = 2

pytest.importorskip("django", reason="the Django twin needs Django: pip install 'Django>=5.1' psycopg-pool")


@dataclass(frozen=True)
class Run:
    result: subprocess.CompletedProcess[str]
    document: dict[str, Any]
    opened: int  # web connections Postgres authorized during the run
    marker: str


def _run(name: str, out: Path) -> Run:
    marker = uuid.uuid4().hex
    result = subprocess.run([sys.executable, "-m", "harness", "run", name, "--out", str(out), "--json"],
                            capture_output=True, text=True, cwd=ROOT, env=env_with_marker(marker), timeout=180)
    [path] = list(out.glob("*/results.json"))
    log = (path.parent / "postgres.log").read_text(errors="replace")
    opened = len(re.findall(r"LOG:  connection authorized: .*application_name=web\.", log))
    return Run(result=result, document=json.loads(path.read_text()), opened=opened, marker=marker)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("django")
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        futures = {name: pool.submit(_run, name, base / name) for name in SCENARIOS}
        return {name: future.result() for name, future in futures.items()}


def _checked(runs: dict[str, Run], name: str) -> tuple[Run, dict[str, Any], dict[str, int]]:
    run = runs[name]
    assert run.result.returncode == 0, run.result.stderr[-3000:] + run.result.stdout[-3000:]
    document = run.document
    assert json.loads(run.result.stdout) == document
    validate(document)
    assert document["verdict"] == {**document["verdict"], "prediction_held": True, "expectations_met": True}
    pg = resource(document, "postgres")
    assert pg["observed"]["peak_method"] == "log-events"
    kinds: dict[str, int] = {}
    for error in document["errors"]:
        kinds[error["kind"]] = kinds.get(error["kind"], 0) + error["count"]
    return run, pg, kinds


def test_the_three_modes_peak_alike_and_churn_apart(runs: dict[str, Run]) -> None:
    # CONN_MAX_AGE 0: a session per request, closed at its end: the threads' 6 at once (7 now and then: a
    # closed session's backend still exiting when the thread's next one is authorized), one opened per request
    run, pg, kinds = _checked(runs, "django-conn-max-age-0")
    assert pg["predicted"] == {"expected": 6, "worst_case": 12, "status": "fits"}
    assert 6 <= pg["observed"]["peak"] <= 7 and kinds == {}
    requests = run.document["requests"]["total"]
    assert requests >= 36 and run.opened >= requests
    # CONN_MAX_AGE 60: the same 6, opened once and kept
    run, pg, kinds = _checked(runs, "django-persistent")
    assert pg["predicted"] == {"expected": 6, "worst_case": 6, "status": "fits"}
    assert pg["observed"]["peak"] == 6 and run.opened == 6 and kinds == {}
    # the native pool, min_size = max_size = 4: 4 per process for 3 threads, opened once
    run, pg, kinds = _checked(runs, "django-pool")
    assert pg["predicted"] == {"expected": 8, "worst_case": 8, "status": "fits"}
    assert pg["observed"]["peak"] == 8 and run.opened == 8 and kinds == {}


def test_more_threads_than_max_size_time_out_in_the_pool(runs: dict[str, Run]) -> None:
    run, pg, kinds = _checked(runs, "django-pool-timeout")
    assert pg["predicted"] == {"expected": 2, "worst_case": 2, "status": "fits"}
    assert pg["observed"]["peak"] == 2 and run.opened == 2
    assert kinds.get("pool_timeout", 0) >= 1 and set(kinds) == {"pool_timeout"}
    assert {e["class"] for e in run.document["errors"]} == {"psycopg_pool.PoolTimeout"}
    assert run.document["verdict"]["config_fits"] is False


def test_without_a_pool_postgres_refuses_and_with_one_the_pool_times_out(runs: dict[str, Run]) -> None:
    run, pg, kinds = _checked(runs, "django-too-many-clients")
    assert pg["predicted"] == {"expected": 12, "worst_case": 24, "status": "exhausts"}
    assert pg["observed"]["peak"] == pg["capacity"] == 8
    assert pg["exhaustion"] == {"predicted": "exhausts", "observed": True}
    assert kinds.get("server_full", 0) >= 1 and set(kinds) == {"server_full"}
    assert {e["class"] for e in run.document["errors"]} == {"psycopg.OperationalError"}
    # the same plan behind Django's pool: Postgres refuses as often, users see only PoolTimeout
    run, pg, kinds = _checked(runs, "django-pool-server-full")
    assert pg["predicted"] == {"expected": 12, "worst_case": 12, "status": "exhausts"}
    assert pg["observed"]["peak"] == 8 and pg["observed"]["rejected"] >= 1
    assert kinds.get("pool_timeout", 0) >= 1 and set(kinds) == {"pool_timeout"}
    assert any("retries refused connections" in note for note in run.document["verdict"]["notes"])


def test_nothing_is_left_running(runs: dict[str, Run]) -> None:
    # once every run has ended (a run's marker also finds the servers started beside it after it began)
    leftovers = {name: found for name, run in runs.items() if (found := processes_under(run.marker))}
    assert leftovers == {}

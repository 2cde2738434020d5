"""Helpers of the end-to-end tests: a real ``python -m harness run`` through the CLI, its results.json validated
against the shared contract, and the checks several real runs share (the series files, the autoscale report)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from harness.stack.apps import RAILS_PACKAGES, rails_missing
from tests.helpers import ROOT, env_with_marker, processes_under
from tests.helpers_report import _rendered, _traces

SCHEMA = ROOT.parent / "shared" / "contract" / "results.schema.json"

MISSING = rails_missing()
needs_rails = pytest.mark.skipif(
    MISSING is not None, reason=f"Ruby/Rails not installed ({MISSING}); .ci/run installs: {' '.join(RAILS_PACKAGES)}")

HAS_SSL_POSTGRES = bool(list(Path("/usr/lib/postgresql").glob("*/bin/postgres")))
ssl = pytest.mark.skipif(not HAS_SSL_POSTGRES, reason="no Debian postgresql with SSL "
                                                      "(apt-get install postgresql-15; .ci/run installs it)")
rails = pytest.mark.skipif(MISSING is not None, reason=f"Ruby/Rails not installed ({MISSING})")


def validate(document: dict[str, object]) -> None:
    if not SCHEMA.exists():
        pytest.skip(f"the shared contract is not beside the repo ({SCHEMA})")
    import jsonschema

    jsonschema.validate(document, json.loads(SCHEMA.read_text()))


def run_cli(scenario: Path, out: Path, marker: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out", str(out), *extra],
                          capture_output=True, text=True, cwd=ROOT, env=env_with_marker(marker), timeout=180)


def only_results(out: Path) -> dict[str, object]:
    [path] = list(out.glob("*/results.json"))
    return dict(json.loads(path.read_text()))


def resource(document: dict[str, object], name: str) -> dict[str, object]:
    resources = document["resources"]
    assert isinstance(resources, list)
    return dict(next(r for r in resources if r["name"] == name))


def groups(document: dict[str, object], name: str) -> dict[str, tuple[int, int, int]]:
    return {g["group"]: (g["predicted_expected"], g["predicted_worst_case"], g["observed_peak"])
            for g in resource(document, name)["groups"]}  # type: ignore[attr-defined]


def run_scenario(name: str, tmp_path: Path) -> dict[str, object]:
    marker = uuid.uuid4().hex
    result = run_cli(ROOT / "scenarios" / f"{name}.yaml", tmp_path, marker)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    document = only_results(tmp_path)
    validate(document)
    assert processes_under(marker) == []
    return document


def lost(document: dict[str, object], source: str = "web") -> list[dict[str, object]]:
    errors = document["errors"]
    assert isinstance(errors, list)
    return [e for e in errors if e["kind"] == "connection_lost" and e["source"] == source]


def rows(run_dir: Path, name: str) -> list[dict[str, str]]:
    with (run_dir / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def check_series(document: dict[str, object]) -> None:
    """The time series a run writes beside results.json agree with its own figures. Called by
    tests/test_e2e_python.py's over-limit test on its own run."""
    run_dir = Path(str(document["run_dir"]))
    series = document["series"]
    assert isinstance(series, dict)
    for name in ("connections", "refusals", "requests", "latency", "events", "predicted"):
        assert (run_dir / series[name]).is_file(), name
    assert document["plan"]["tiers"]["web"]["dynos"] == 3  # type: ignore[index]

    pg = resource(document, "postgres")
    connections = rows(run_dir, series["connections"])
    exact = [r for r in connections if r["resource"] == "postgres" and r["method"] == "exact"]
    # replaying the exact rows gives the reported peak, per group and in total
    now: dict[str, int] = {}
    peak_total, peak_group = 0, Counter[str]()
    for r in exact:
        now[r["group"]] = int(r["connections"])
        peak_total = max(peak_total, sum(now.values()))
        peak_group[r["group"]] = max(peak_group[r["group"]], int(r["connections"]))
    assert peak_total == pg["observed"]["peak"] == 10  # type: ignore[index]
    assert dict(peak_group) == {g["group"]: g["observed_peak"] for g in pg["groups"]}  # type: ignore[attr-defined]
    assert now and all(n == 0 for n in now.values())  # every connection closed by the end
    assert any(r["method"] == "sampled" for r in connections)

    refusals = rows(run_dir, series["refusals"])
    assert len(refusals) == pg["observed"]["rejected"] > 0  # type: ignore[index]
    assert float(refusals[0]["t"]) == pg["observed"]["first_rejected_s"]  # type: ignore[index]

    requests = rows(run_dir, series["requests"])
    assert sum(int(r["count"]) for r in requests) == document["requests"]["total"]  # type: ignore[index]
    failed = [r for r in requests if r["outcome"] == "failed"]
    assert sum(int(r["count"]) for r in failed) == document["requests"]["failed"]  # type: ignore[index]
    assert {r["kind"] for r in failed} == {"server_full"}
    latency = rows(run_dir, series["latency"])
    assert sum(int(r["requests"]) for r in latency) == document["requests"]["total"]  # type: ignore[index]
    assert all(float(r["p50_ms"]) <= float(r["p95_ms"]) <= float(r["max_ms"]) for r in latency)

    predicted = rows(run_dir, series["predicted"])
    assert [(r["t"], r["expected"], r["capacity"]) for r in predicted if r["resource"] == "postgres"] == \
        [("0.0", "12", "10")]
    events = rows(run_dir, series["events"])
    assert events[0] == {"t": "0.0", "what": "traffic started"}


def check_autoscale_report(document: dict[str, object], tmp_path: Path) -> None:
    """The autoscale run's own report.html, drawn in headless Chromium, against the series the run wrote.
    Called by tests/test_e2e_rails.py's autoscale test on its own run (one run of 16 s serves both)."""
    run_dir = Path(str(document["run_dir"]))
    state, summary = _rendered(run_dir / "report.html", tmp_path)
    assert state == "yes", summary
    postgres = _traces(summary, "connections-postgres")
    assert set(postgres["capacity"]["y"]) == {27}
    # every group's plotted count at its own change times is the series' exact row
    exact = [r for r in rows(run_dir, "connections.csv") if r["resource"] == "postgres" and r["method"] == "exact"]
    groups = {name: t for name, t in postgres.items() if t["meta"] == "group"}
    assert sorted(groups) == sorted({r["group"] for r in exact})
    last = {(r["group"], float(r["t"])): int(r["connections"]) for r in exact}  # several changes in one ms: the last
    for (group, t), count in last.items():
        trace = groups[group]
        at = [i for i, x in enumerate(trace["x"]) if x == t]
        assert at and trace["y"][at[-1]] == count, (group, t, count)
    # the stack reaches the capacity, and never passes it
    tops = [sum(t["y"][i] for t in groups.values()) for i in range(len(next(iter(groups.values()))["x"]))]
    assert max(tops) == 27
    # refusals only once the second scale event's dynos were up
    scaled = [float(e["t"]) for e in rows(run_dir, "events.csv") if e["what"].startswith("scaled web")]
    assert len(scaled) == 2
    # the prediction steps when each scale event had happened (its dynos up), not when it was due
    steps = sorted({float(r["t"]) for r in rows(run_dir, "predicted.csv") if r["resource"] == "postgres"})
    assert steps == [0.0, *scaled]
    refused = postgres["refused per second"]
    assert refused["x"] and min(refused["x"]) >= int(scaled[1])
    assert sum(refused["y"]) == len(rows(run_dir, "refusals.csv")) == document["resources"][0]["observed"]["rejected"]  # type: ignore[index]
    assert postgres["predicted expected"]["y"][-1] == 33

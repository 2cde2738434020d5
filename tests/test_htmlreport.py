"""The HTML report: built from a hand-made run folder (no servers), then drawn by headless Chromium.

The run folder imitates the autoscale scenario: Postgres capacity 27, the
prediction 15, 21 at t=3 and 33 at t=8, Postgres refusing from t=8.5. The
browser test reads back what Plotly drew (``<pre id="connlab-rendered">``).
"""

from __future__ import annotations

import copy
import csv
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.errors import PlanError
from harness.htmlreport import write_comparison, write_report
from harness.plan import APPS, ERROR_KINDS
from harness.results_doc import (
    BACKENDS,
    STATUSES,
    AppError,
    Event,
    Exhaustion,
    Figures,
    GroupFigures,
    Observed,
    Predicted,
    Requests,
    Verdict,
    read_results,
)
from tests.helpers_report import SCHEMA, _rendered, _traces, connection_figures, edit_results, page_figures

POSTGRES_EXACT = [  # t, group, connections (the count right after the change)
    (-1.2, "worker.1", 3), (0.21, "web.1", 3), (0.25, "web.2", 3), (0.5, "web.1", 6), (0.62, "web.2", 6),
    (3.3, "web.3", 3), (3.6, "web.3", 6), (8.2, "web.4", 3), (8.3, "web.5", 3), (13.0, "web.5", 2), (13.4, "web.5", 3),
]
REDIS_EXACT = [(-1.0, "worker.1", 4), (0.3, "web.1", 2), (0.4, "web.2", 2), (3.5, "web.3", 2), (8.4, "web.4", 2)]
REFUSALS = [8.6, 8.7, 8.95, 9.2, 9.5, 10.1, 11.3, 12.0, 12.7, 14.2]
EVENTS = [(0.0, "traffic started"), (3.0, "scaled web from 2 to 3 dynos"), (8.0, "scaled web from 3 to 5 dynos"),
          (8.6, "postgres refused its first connection")]
SECONDS = 15


def _write(path: Path, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)


def make_run(folder: Path, *, capacity: int = 27, scenario: str = "autoscale") -> Path:
    """A run folder as ``connlab run`` writes it: results.json and the six series files."""
    folder.mkdir(parents=True)
    connections = [(t, "postgres", g, n, "exact") for t, g, n in POSTGRES_EXACT]
    connections += [(t, "redis", g, n, "exact") for t, g, n in REDIS_EXACT]
    sampled = {1.0: {"web.1": 6, "web.2": 6, "worker.1": 3},  # a group with 0 may be absent from a sample
               10.0: {"web.1": 6, "web.2": 6, "web.3": 6, "web.4": 3, "web.5": 3, "worker.1": 3}}
    connections += [(t, "postgres", g, n, "sampled") for t, sample in sampled.items() for g, n in sample.items()]
    _write(folder / "connections.csv", ("t", "resource", "group", "connections", "method"), connections)
    _write(folder / "refusals.csv", ("t", "resource"), [(t, "postgres") for t in REFUSALS])
    requests: list[tuple[Any, ...]] = []
    for s in range(SECONDS):
        requests.append((s, "/db", "ok", "", "", 40 if s < 8 else 25))
        if s >= 8:
            requests.append((s, "/db", "failed", "server_full", "ActiveRecord::ConnectionNotEstablished", 12))
    _write(folder / "requests.csv", ("second", "endpoint", "outcome", "kind", "error_class", "count"), requests)
    _write(folder / "latency.csv", ("second", "requests", "p50_ms", "p95_ms", "p99_ms", "max_ms"),
           [(s, 40 if s < 8 else 37, 21.0, 48.5, 90.0 if s < 8 else 5010.0, 130.0 if s < 8 else 5050.0)
            for s in range(SECONDS)])
    _write(folder / "events.csv", ("t", "what"), EVENTS)
    _write(folder / "predicted.csv", ("t", "resource", "expected", "worst_case", "capacity"),
           [(0.0, "postgres", 15, 15, capacity), (3.0, "postgres", 21, 21, capacity),
            (8.0, "postgres", 33, 33, capacity), (0.0, "redis", 6, 14, 50), (3.0, "redis", 8, 17, 50),
            (8.0, "redis", 12, 23, 50)])
    groups = [("web.1", 6, 6), ("web.2", 6, 6), ("web.3", 6, 6), ("web.4", 6, 3), ("web.5", 6, 3), ("worker.1", 3, 3)]
    document = {
        "schema": "connlab.results/1", "scenario": scenario, "app": "rails", "backend": "local",
        "versions": {"rails": "6.1.7", "puma": "5.6.5", "sidekiq": "6.4.1", "postgres": "18.1", "valkey": "8.1.1"},
        "duration_s": 15.0,
        "resources": [
            {"name": "postgres", "limit": capacity + 3, "capacity": capacity,
             "predicted": {"expected": 15, "worst_case": 15, "status": "fits",
                           "final": {"expected": 33, "worst_case": 33, "status": "exhausts"}},
             "observed": {"peak": 27, "peak_method": "log-events", "sampled_peak": 27, "rejected": len(REFUSALS)},
             "groups": [{"group": g, "predicted_expected": e, "predicted_worst_case": e, "observed_peak": p}
                        for g, e, p in groups],
             "exhaustion": {"predicted": "exhausts", "observed": True}},
            {"name": "redis", "limit": 50, "capacity": 50,
             "predicted": {"expected": 6, "worst_case": 14, "status": "fits"},
             "observed": {"peak": 12, "peak_method": "log-events", "rejected": 0},
             "groups": [], "exhaustion": {"predicted": "fits", "observed": False}},
        ],
        "requests": {"total": 535, "failed": 84},
        "errors": [{"class": "ActiveRecord::ConnectionNotEstablished", "kind": "server_full", "source": "web",
                    "count": 84, "rate": 0.157, "first_s": 8.6, "example": "FATAL: sorry, too many clients </script>"}],
        "events": [{"t": t, "what": what} for t, what in EVENTS],
        "verdict": {"prediction_held": True, "config_fits": False, "expectations_met": True,
                    "notes": ["postgres: peak 27 = capacity, as predicted once web reached 5 dynos"]},
        "plan": {"description": "the autoscaler adds dynos", "app": "rails",
                 "postgres": {"max_connections": capacity + 3, "superuser_reserved_connections": 3},
                 "tiers": {"web": {"dynos": 2, "processes": 2, "threads": 3, "pool": 3}}},
        "series": {"format": "csv; t = seconds since traffic start", "connections": "connections.csv",
                   "refusals": "refusals.csv", "requests": "requests.csv", "latency": "latency.csv",
                   "events": "events.csv", "predicted": "predicted.csv"},
    }
    (folder / "results.json").write_text(json.dumps(document, indent=2))
    return folder


def test_report_is_one_offline_file(tmp_path: Path) -> None:
    run = make_run(tmp_path / "autoscale-20260101-000000")
    with (run / "events.csv").open("a") as events:
        events.write('14.5,"one-off printed </script><script>alert(1)</script>"\n')
    path = write_report(run)
    page = path.read_text()
    assert path == run / "report.html"
    assert not re.search(r"<script[^>]*\ssrc=", page), "every script is inline"
    assert not re.search(r"<link[^>]*href=[\"']?https?:", page), "no stylesheet from the network"
    assert page.count("<script>") == 2 and len(page) > 3_000_000, "plotly.js inline, once"
    for figure in ("connections-postgres", "connections-redis", "requests", "latency"):
        assert f'<div id="{figure}" class=figure>' in page
    assert '<pre id=connlab-rendered hidden></pre>' in page
    assert page.count("</script>") == 3 and "alert(1)" in page, "an event's text cannot end the script"
    assert "too many clients &lt;/script&gt;" in page
    assert "configuration does not fit" in page and "max_connections: 30" in page and "rails 6.1.7" in page


def test_missing_series_are_named_and_the_capacity_still_drawn(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    (run / "predicted.csv").unlink()
    (run / "latency.csv").unlink()
    page = write_report(run).read_text()
    assert "predicted.csv could not be read (No such file or directory): not drawn" in page
    assert "latency.csv could not be read" in page
    figures = json.loads(re.search(r'id="connlab-figures">(.*?)</script>', page, re.S)[1])  # type: ignore[index]
    postgres = next(f["figure"] for f in figures if f["id"] == "connections-postgres")
    capacity = next(t for t in postgres["data"] if t["name"] == "capacity")
    assert capacity["y"] == [27, 27]


def test_cli_report_and_its_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b", capacity=40)
    assert main(["report", str(a)]) == 0 and (a / "report.html").is_file()
    out = tmp_path / "ab.html"
    assert main(["report", str(a), str(b), "-o", str(out)]) == 0 and out.is_file()
    assert main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (f"connlab: {tmp_path}: no results.json here "
                                               "(a run folder is runs/<scenario>-<timestamp>/)")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "results.json").write_text("{}")
    with pytest.raises(PlanError, match="not a connlab results.json"):
        write_report(tmp_path / "c")


def test_chromium_draws_what_the_csv_says(tmp_path: Path) -> None:
    began = time.monotonic()
    state, summary = _rendered(write_report(make_run(tmp_path / "run")), tmp_path)
    assert state == "yes", summary
    postgres = _traces(summary, "connections-postgres")
    capacity = postgres["capacity"]
    start, end = capacity["x_range"]
    assert set(capacity["y"]) == {27} and capacity["x"][0] <= start and capacity["x"][-1] >= end
    assert start == -1.2 and end == SECONDS
    # every group stacked, with a point at every change of any group (a count holds until its next row) and the end
    changes = sorted({t for t, _, _ in POSTGRES_EXACT})
    groups = {name: t for name, t in postgres.items() if t["meta"] == "group"}
    assert sorted(groups) == ["web.1", "web.2", "web.3", "web.4", "web.5", "worker.1"]
    for name, trace in groups.items():
        assert trace["points"] == len(changes) + 1 and trace["x"] == [*changes, SECONDS]
        own = [(t, n) for t, g, n in POSTGRES_EXACT if g == name]
        assert all(trace["y"][trace["x"].index(t)] == n for t, n in own), name
        assert trace["y"][0] == (3 if name == "worker.1" else 0)
    assert sum(t["y"][-1] for t in groups.values()) == 27
    assert postgres["predicted expected"]["y"] == [15, 21, 33, 33]
    assert postgres["predicted expected"]["x"] == [start, 3, 8, end]
    refused = postgres["refused per second"]
    assert refused["x"] and min(refused["x"]) > 8 and sum(refused["y"]) == len(REFUSALS)
    assert postgres["events"]["points"] == len(EVENTS)
    assert postgres["sampled total"]["y"] == [15, 27]
    assert _traces(summary, "connections-redis")["refused per second"]["points"] == 0
    failed = _traces(summary, "requests")["server_full per second"]
    assert min(failed["x"]) > 8 and set(failed["y"]) == {12}
    assert _traces(summary, "latency")["p99"]["points"] == SECONDS
    assert time.monotonic() - began < 20


def test_chromium_draws_a_comparison_on_one_scale(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / "pool5"), make_run(tmp_path / "pool10", capacity=40)]
    state, summary = _rendered(write_comparison(runs, tmp_path / "compare.html"), tmp_path)
    assert state == "yes", summary
    one, two = _traces(summary, "run1-connections-postgres"), _traces(summary, "run2-connections-postgres")
    assert set(one["capacity"]["y"]) == {27} and set(two["capacity"]["y"]) == {40}
    assert one["capacity"]["y_range"] == two["capacity"]["y_range"] and two["capacity"]["y_range"][1] > 40
    assert len(summary["figures"]) == 6


def test_chromium_page_says_when_a_figure_failed(tmp_path: Path) -> None:
    page = write_report(make_run(tmp_path / "run"))
    page.write_text(page.read_text().replace('"id":"latency"', '"id":"no-such-div"'))
    state, summary = _rendered(page, tmp_path)
    assert state == "failed" and "no-such-div" in summary["error"]


# results.json as typed values (harness.results_doc), and a figure per resource the document lists


def _pgbouncer(document: dict[str, Any]) -> None:
    """A third resource after the two: a pooler with room for 40."""
    document["resources"].append({
        "name": "pgbouncer", "limit": 40, "capacity": 40,
        "predicted": {"expected": 9, "worst_case": 12, "status": "fits"},
        "observed": {"peak": 7, "peak_method": "log-events", "rejected": 0},
        "groups": [{"group": "web.1", "predicted_expected": 9, "predicted_worst_case": 12, "observed_peak": 7}],
        "exhaustion": {"predicted": "fits", "observed": False}})


def _with_pgbouncer(folder: Path) -> Path:
    edit_results(folder, _pgbouncer)
    with (folder / "connections.csv").open("a", newline="") as out:
        csv.writer(out).writerows([(0.3, "pgbouncer", "web.1", 4, "exact"), (2.0, "pgbouncer", "web.1", 7, "exact")])
    with (folder / "predicted.csv").open("a", newline="") as out:
        csv.writer(out).writerow((0.0, "pgbouncer", 9, 12, 40))
    return folder


def _valid(document: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA.exists():
        pytest.skip(f"the shared contract is not beside the repo ({SCHEMA})")
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))


def test_read_results_gives_the_typed_values(tmp_path: Path) -> None:
    path = make_run(tmp_path / "run") / "results.json"
    document = json.loads(path.read_text())
    _valid(document)
    results = read_results(document, path)
    assert (results.schema, results.scenario, results.app, results.backend) == ("connlab.results/1", "autoscale",
                                                                                "rails", "local")
    assert results.duration_s == 15.0 and results.stack_up_s is None and results.time_to_verdict_s is None
    assert [r.name for r in results.resources] == ["postgres", "redis"]
    first, second = results.resources
    assert (first.limit, first.capacity) == (30, 27)
    assert first.predicted == Predicted(expected=15, worst_case=15, status="fits",
                                        final=Figures(expected=33, worst_case=33, status="exhausts"))
    assert first.observed == Observed(peak=27, peak_method="log-events", sampled_peak=27, rejected=len(REFUSALS))
    assert len(first.groups) == 6 and first.groups[-1] == GroupFigures(group="worker.1", predicted_expected=3,
                                                                       predicted_worst_case=3, observed_peak=3)
    assert first.exhaustion == Exhaustion(predicted="exhausts", observed=True)
    assert second.predicted.final is None and second.observed.sampled_peak is None and second.groups == ()
    assert results.resource("redis") is second and results.resource("pgbouncer") is None
    assert results.requests == Requests(total=535, failed=84)
    assert results.errors == (AppError(error_class="ActiveRecord::ConnectionNotEstablished", kind="server_full",
                                       count=84, rate=0.157, first_s=8.6, source="web",
                                       example="FATAL: sorry, too many clients </script>"),)
    assert results.events == tuple(Event(t=t, what=what) for t, what in EVENTS)
    assert results.verdict == Verdict(prediction_held=True, config_fits=False, expectations_met=True,
                                      notes=("postgres: peak 27 = capacity, as predicted once web reached 5 dynos",))
    assert results.versions["rails"] == "6.1.7" and results.plan is not None and results.plan["app"] == "rails"
    assert results.series is not None and results.series["connections"] == "connections.csv"


def _drop_capacity(d: dict[str, Any]) -> None:
    del d["resources"][0]["capacity"]


def _groups_object(d: dict[str, Any]) -> None:
    d["resources"][1]["groups"] = {"web.1": 2}


def _capacity_text(d: dict[str, Any]) -> None:
    d["resources"][0]["capacity"] = "27"


def _peak_true(d: dict[str, Any]) -> None:
    d["resources"][1]["observed"]["peak"] = True


def _unknown_kind(d: dict[str, Any]) -> None:
    d["errors"][0]["kind"] = "too_many"


def _no_resources(d: dict[str, Any]) -> None:
    d["resources"] = []


def _twice(d: dict[str, Any]) -> None:
    d["resources"][1]["name"] = "postgres"


def _note_number(d: dict[str, Any]) -> None:
    d["verdict"]["notes"].append(3)


def _kind_with_a_control(d: dict[str, Any]) -> None:
    d["errors"][0]["kind"] = "x\u202ey\u001b[2J"  # a bidi override and a clear-screen escape


@pytest.mark.parametrize(("change", "line"), [
    (_drop_capacity, "resources[0].capacity: expected an integer, found nothing (the field is absent)"),
    (_groups_object, "resources[1].groups: expected a list, found an object"),
    (_capacity_text, 'resources[0].capacity: expected an integer, found "27"'),
    (_peak_true, "resources[1].observed.peak: expected an integer, found true"),
    (_unknown_kind, 'errors[0].kind: expected one of pool_timeout, server_full, redis_full, connection_lost, '
                    'other, found "too_many"'),
    (_no_resources, "resources: expected a list of at least one resource, found a list"),
    (_twice, 'resources[1].name: expected a name no other resource has, found "postgres"'),
    (_note_number, "verdict.notes[1]: expected a string, found 3"),
    # a value the line quotes is escaped: nothing in it reaches the terminal raw
    (_kind_with_a_control, 'errors[0].kind: expected one of pool_timeout, server_full, redis_full, connection_lost, '
                           'other, found "x\\u202ey\\u001b[2J"'),
])
def test_a_broken_results_json_is_one_line_naming_the_field(tmp_path: Path, change: Any, line: str) -> None:
    run = make_run(tmp_path / "run")
    path = edit_results(run, change)
    with pytest.raises(PlanError) as raised:
        read_results(json.loads(path.read_text()), path)
    assert raised.value.problems == [f"{path}: {line}"]
    with pytest.raises(PlanError) as again:  # the report says the same, and writes no page
        write_report(run)
    assert again.value.problems == [f"{path}: {line}"] and not (run / "report.html").exists()


def test_the_cli_prints_a_broken_field_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = edit_results(make_run(tmp_path / "run"), _groups_object)
    assert main(["report", str(path.parent)]) == 2
    assert capsys.readouterr().err.strip() == f"connlab: {path}: resources[1].groups: expected a list, found an object"


def _required(node: dict[str, Any], value: Any, where: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every field the schema requires, as its path into ``value`` (a list's first item standing for all)."""
    found: list[tuple[str | int, ...]] = [(*where, key) for key in node.get("required", [])]
    for key, sub in node.get("properties", {}).items():
        inner = value.get(key) if isinstance(value, dict) else None
        if isinstance(inner, dict):
            found += _required(sub, inner, (*where, key))
        elif isinstance(inner, list) and inner and isinstance(sub.get("items"), dict):
            found += _required(sub["items"], inner[0], (*where, key, 0))
    return found


def _dotted(where: tuple[str | int, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in where).lstrip(".")


def test_every_field_the_contract_requires_is_required_and_its_words_are_the_same(tmp_path: Path) -> None:
    if not SCHEMA.exists():
        pytest.skip(f"the shared contract is not beside the repo ({SCHEMA})")
    schema = json.loads(SCHEMA.read_text())
    path = make_run(tmp_path / "run") / "results.json"
    document = json.loads(path.read_text())
    paths = _required(schema, document)
    assert ("resources", 0, "observed", "peak_method") in paths and ("errors", 0, "class") in paths
    for where in paths:
        if where == ("schema",):
            continue  # "not a connlab results.json", tested above
        broken = copy.deepcopy(document)
        holder = broken
        for key in where[:-1]:
            holder = holder[key]
        del holder[where[-1]]
        with pytest.raises(PlanError) as raised:
            read_results(broken, path)
        assert raised.value.problems[0].startswith(f"{path}: {_dotted(where)}: expected "), raised.value.problems
    resource = schema["properties"]["resources"]["items"]["properties"]
    assert set(APPS) == set(schema["properties"]["app"]["enum"])
    assert tuple(schema["properties"]["backend"]["enum"]) == BACKENDS
    assert tuple(resource["exhaustion"]["properties"]["predicted"]["enum"]) == STATUSES
    assert set(ERROR_KINDS) == set(schema["properties"]["errors"]["items"]["properties"]["kind"]["enum"])


def test_an_error_first_seen_at_no_time_shows_an_empty_cell(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    edit_results(run, lambda d: d["errors"][0].update(first_s=None))
    page = write_report(run).read_text()
    assert "<td>15.7%</td><td></td><td>FATAL" in page and "<td>None</td>" not in page


def test_chromium_draws_one_connections_figure_for_one_resource(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    document = json.loads(edit_results(run, lambda d: d["resources"].pop(0)).read_text())  # Redis alone
    _valid(document)
    page = write_report(run)
    state, summary = _rendered(page, tmp_path)
    assert state == "yes", summary
    assert connection_figures(summary) == ["connections-redis"]
    assert set(_traces(summary, "connections-redis")["capacity"]["y"]) == {50}
    assert len(summary["figures"]) == 3  # and the requests and latency figures
    text = page.read_text()
    assert 'id="connections-postgres"' not in text and '<div id="connections-redis" class=figure>' in text
    assert "<tr><td>redis</td><td>50</td>" in text and "<tr><td>postgres</td><td>27</td>" not in text


def test_chromium_draws_three_connections_figures_for_three_resources(tmp_path: Path) -> None:
    run = _with_pgbouncer(make_run(tmp_path / "run"))
    _valid(json.loads((run / "results.json").read_text()))
    page = write_report(run)
    state, summary = _rendered(page, tmp_path)
    assert state == "yes", summary
    assert connection_figures(summary) == ["connections-postgres", "connections-redis", "connections-pgbouncer"]
    pooler = _traces(summary, "connections-pgbouncer")
    assert set(pooler["capacity"]["y"]) == {40} and pooler["web.1"]["y"][-1] == 7
    assert pooler["predicted worst case"]["y"][0] == 12 and pooler["refused per second"]["points"] == 0
    titles = {f["id"]: f["figure"]["layout"]["title"]["text"] for f in page_figures(page)}
    assert titles["connections-pgbouncer"] == "Pgbouncer connections per process group (capacity 40)"
    assert titles["connections-postgres"] == "Postgres connections per process group (capacity 27)"


def test_a_comparison_draws_each_run_s_resources_one_scale_per_name(tmp_path: Path) -> None:
    two, three = make_run(tmp_path / "two"), _with_pgbouncer(make_run(tmp_path / "three", capacity=40))
    figures = {f["id"]: f["figure"] for f in page_figures(write_comparison([two, three], tmp_path / "c.html"))}
    assert list(figures) == ["run1-connections-postgres", "run1-connections-redis", "run1-requests",
                             "run2-connections-postgres", "run2-connections-redis", "run2-connections-pgbouncer",
                             "run2-requests"]
    postgres = [figures[f"run{i}-connections-postgres"]["layout"]["yaxis"]["range"] for i in (1, 2)]
    assert postgres[0] == postgres[1] and postgres[0][1] > 40

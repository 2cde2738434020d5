"""The autoscale run's own report.html, drawn in headless Chromium, against the series the run wrote
(run by tests/test_e2e_rails.py's autoscale test)."""

from __future__ import annotations

from pathlib import Path

from tests.test_htmlreport import _rendered, _traces
from tests.test_series import rows


def check_autoscale_report(document: dict[str, object], tmp_path: Path) -> None:
    """Called by tests/test_e2e_rails.py's autoscale test on its own run (one run of 16 s serves both)."""
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

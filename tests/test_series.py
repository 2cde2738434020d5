"""The time series a run writes beside results.json agree with its own figures (checked on the real over-limit run of
tests/test_e2e_python.py)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any


def resource(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in document["resources"] if r["name"] == name)


def rows(run_dir: Path, name: str) -> list[dict[str, str]]:
    with (run_dir / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def check_series(document: dict[str, object]) -> None:
    """Called by tests/test_e2e_python.py's over-limit test on its own run."""
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

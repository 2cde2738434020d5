"""The run's time series, written beside results.json as CSV files (listed in results.json under ``series``).

One clock: ``t`` is seconds since traffic start (negative while the stack came
up), ``second`` a whole second of it. Every file has a header row::

    connections.csv  t,resource,group,connections,method
                     method=exact: a row at every change of a group's count (the
                     servers' connection-log replay), the count right after it;
                     method=sampled: every group's count at every sample (~50 ms,
                     pg_stat_activity / CLIENT LIST). A count holds until the
                     group's next row.
    refusals.csv     t,resource                 one row per refused connection
    requests.csv     second,endpoint,outcome,kind,error_class,count
                     requests that ended in that second; outcome ok | failed;
                     kind (server_full, pool_timeout, ...) and error_class only
                     for failed rows
    latency.csv      second,requests,p50_ms,p95_ms,p99_ms,max_ms
    events.csv       t,what
    predicted.csv    t,resource,expected,worst_case,capacity
                     the prediction as steps: t = 0, then each topology change
                     (scale; a preboot deploy's start and end) when it had
                     really happened (its new dynos up; the scheduled time when
                     no action matches)
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from harness.observation import Observation
from harness.predict import TopologyChange
from harness.verdict import classify_error

FORMAT = "csv with a header row; t = seconds since traffic start, second = a whole second of it"


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)


def _happened(observation: Observation, change: TopologyChange) -> float:
    """When the timeline step that makes ``change`` had really happened (its new dynos up); when it never ran (the
    traffic ended first), when it was due."""
    return next((e.t for e in observation.events if e.change == change.key), change.at_s)


def write_series(observation: Observation, run_dir: Path) -> dict[str, str]:
    """Write the six files into ``run_dir``; return what results.json lists under ``series``."""
    names = {"connections": "connections.csv", "refusals": "refusals.csv", "requests": "requests.csv",
             "latency": "latency.csv", "events": "events.csv", "predicted": "predicted.csv"}
    connections: list[tuple[object, ...]] = []
    refusals: list[tuple[object, ...]] = []
    for resource in observation.resources:
        connections += [(t, resource.name, group, n, "exact") for t, group, n in resource.exact]
        connections += [(t, resource.name, group, n, "sampled") for t, group, n in resource.sampled]
        refusals += [(t, resource.name) for t in resource.refusals]
    _write(run_dir / names["connections"], ("t", "resource", "group", "connections", "method"), connections)
    _write(run_dir / names["refusals"], ("t", "resource"), sorted(refusals, key=lambda row: float(str(row[0]))))
    requests = []
    for r in observation.load.requests:
        if r.error_class is None:
            requests.append((r.second, r.endpoint, "ok", "", "", r.count))
        else:
            requests.append((r.second, r.endpoint, "failed", classify_error(r.error_class, r.message), r.error_class,
                             r.count))
    _write(run_dir / names["requests"], ("second", "endpoint", "outcome", "kind", "error_class", "count"), requests)
    _write(run_dir / names["latency"], ("second", "requests", "p50_ms", "p95_ms", "p99_ms", "max_ms"),
           [(s.second, s.requests, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms) for s in observation.load.latency])
    _write(run_dir / names["events"], ("t", "what"), [(e.t, e.what) for e in observation.events])
    steps = [(0.0, observation.forecast.initial)]
    steps += [(_happened(observation, change), change.prediction) for change in observation.forecast.after_events]
    _write(run_dir / names["predicted"], ("t", "resource", "expected", "worst_case", "capacity"),
           [(t, r.name, r.expected, r.worst_case, r.capacity) for t, prediction in steps for r in prediction.resources])
    return {"format": FORMAT, **names}

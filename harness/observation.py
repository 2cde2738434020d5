"""Observation: what a run saw, as plain values, with its time series on one clock.

Low in the layout: it imports only the plan and the prediction. The collectors
(``collect.py`` and each server's in ``harness.resources``), the load (``load/``) and the run
(``run.py``) produce these types; the verdict, the reports and the series files
read them.

Two clocks meet here. The collectors work in wall-clock epoch seconds (the
servers' logs, the samplers); ``Observation`` holds everything in **seconds
since traffic start** (``t``), the one clock of the results, the series files
and the plots. ``Peaks.on_clock`` converts.

Series an ``Observation`` carries:

* per resource: ``exact`` (every change of a group's count, from the log
  replay), ``sampled`` (every group's count at every sample), ``refusals``
  (each refused connection);
* ``load.requests`` (requests per whole second by endpoint and error class)
  and ``load.latency`` (percentiles per whole second);
* ``events`` (the timeline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.plan import Plan
from harness.predict import Forecast

#: (t, group, the group's count right after the change)
Change = tuple[float, str, int]


@dataclass(frozen=True, kw_only=True)
class Peaks:
    """What one collector saw of one server, on the wall clock (epoch seconds).

    ``total`` and ``by_group``: the most connections open at one instant. ``changes``:
    every change of a group's count (a sampler: every group at every sample).
    """

    total: int
    by_group: dict[str, int]
    rejected: int = 0
    first_rejected_epoch_s: float | None = None
    changes: tuple[Change, ...] = ()
    refused_epoch_s: tuple[float, ...] = ()

    def totals(self) -> tuple[tuple[float, int], ...]:
        """The total across groups after every change, in order."""
        now: dict[str, int] = {}
        out = []
        for t, group, n in self.changes:
            now[group] = n
            out.append((t, sum(now.values())))
        return tuple(out)

    def on_clock(self, start_epoch_s: float) -> tuple[tuple[Change, ...], tuple[float, ...]]:
        """``changes`` and refusals in seconds since ``start_epoch_s`` (the traffic's start)."""
        changes = tuple((round(t - start_epoch_s, 3), group, n) for t, group, n in self.changes)
        return changes, tuple(round(t - start_epoch_s, 3) for t in self.refused_epoch_s)


@dataclass(frozen=True, kw_only=True)
class ErrorTally:
    """Errors of one class and message: seen by users (``source="web"``) or raised in jobs (``"worker"``)."""

    error_class: str
    message: str
    count: int
    first_s: float | None
    source: str = "web"


@dataclass(frozen=True, kw_only=True)
class RequestCount:
    """Requests to one endpoint that ended in one whole second of traffic, by outcome (``error_class`` None: ok)."""

    second: int
    endpoint: str
    error_class: str | None
    message: str
    count: int


@dataclass(frozen=True, kw_only=True)
class LatencySecond:
    """Latency percentiles (nearest rank) of the requests that ended in one whole second."""

    second: int
    requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True, kw_only=True)
class LoadResult:
    total: int
    failed: int
    errors: tuple[ErrorTally, ...]
    failures_per_second: dict[int, int]
    requests: tuple[RequestCount, ...] = ()
    latency: tuple[LatencySecond, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ResourceObservation:
    """One server's figures, and its series in seconds since traffic start."""

    name: str
    peak: int
    peak_method: str
    sampled_peak: int
    rejected: int
    by_group: dict[str, int]
    first_rejected_s: float | None = None
    exact: tuple[Change, ...] = ()
    sampled: tuple[Change, ...] = ()
    refusals: tuple[float, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TimelineEvent:
    t: float
    what: str
    #: for a change of the web tier (scale, deploy), the forecast's key for it (``predict.change_key``); ``t`` is
    #: when it had happened (its dynos up)
    change: str | None = None


@dataclass(frozen=True, kw_only=True)
class Observation:
    plan: Plan
    forecast: Forecast
    run_dir: Path
    #: one per server, in the registry's order (``harness.resources.registry``)
    resources: tuple[ResourceObservation, ...]
    load: LoadResult
    job_errors: tuple[ErrorTally, ...]
    events: tuple[TimelineEvent, ...]
    startup_s: dict[str, float]
    stack_up_s: float
    duration_s: float
    #: seconds per phase of the run (``harness.phases``), in order
    phases_s: dict[str, float] = field(default_factory=dict)
    backend: str = "local"
    #: what ran (``harness.stack.stack.Stack.versions``): the prediction above is for these
    versions: dict[str, str] = field(default_factory=dict)

    def resource(self, name: str) -> ResourceObservation:
        return next(r for r in self.resources if r.name == name)

"""Verdict: did the prediction hold, does the configuration fit, were the expectations met?

Per resource, against the most severe topology of the run (the initial one or
the one after a scaling event):

* the observed peak must not exceed the predicted worst case;
* ``exhausts`` must show refusals, ``fits`` must show none (``at-risk`` may go either way);
* a pool timeout where no pool is starved (threads <= pool everywhere) breaks the prediction, unless
  Django's native pool waited on a Postgres that refused connections (it retries them in the background).

The configuration fits when no server refused a connection and no pool timed out.
Expectations are the scenario's own ``expect`` checks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from harness.observation import Observation
from harness.predict import AT_RISK, EXHAUSTS, FITS, ResourcePrediction
from harness.resources.limits import LIMITS

_SEVERITY = {FITS: 0, AT_RISK: 1, EXHAUSTS: 2}


def classify_error(error_class: str, message: str) -> str:
    """The kind of an error, the same for Rails and Python, from its class and message."""
    text = f"{error_class} {message}".lower()
    for kind in LIMITS.values():
        if any(marker in text for marker in kind.full_markers):
            return kind.full_error
    if ("connectiontimeouterror" in text or "pooltimeout" in text or "queuepool limit" in text
            or error_class == "sqlalchemy.exc.TimeoutError"):
        return "pool_timeout"
    if any(marker in text for marker in CONNECTION_LOST_MARKERS):
        return "connection_lost"
    return "other"


# What a connection that died, or that two processes share, looks like from the app (libpq, OpenSSL,
# psycopg, SQLAlchemy, pg, ActiveRecord, redis-py, redis-rb).
CONNECTION_LOST_MARKERS = (
    "ssl syscall", "bad record mac", "ssl error", "eof detected", "server closed the connection",
    "terminating connection", "connection lost", "lost synchronization", "arrived from server while idle",
    "unexpected response", "insufficient data", "invalid message", "connection already closed",
    "no connection to the server", "connectionnotestablished", "connectionbad", "unabletosend",
    "operationalerror", "interfaceerror", "connection reset", "connection refused", "broken pipe",
    "connection closed", "cannotconnecterror", "connectionerror", "unexpected eof",
)


@dataclass(frozen=True, kw_only=True)
class ErrorSummary:
    error_class: str
    kind: str
    source: str
    count: int
    rate: float
    first_s: float | None
    example: str


@dataclass(frozen=True, kw_only=True)
class Verdict:
    prediction_held: bool
    config_fits: bool
    expectations_met: bool
    exhausted: dict[str, bool]
    errors: tuple[ErrorSummary, ...]
    failures: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.prediction_held and self.expectations_met


def summarize_errors(observation: Observation) -> tuple[ErrorSummary, ...]:
    """Errors by (class, kind, source): one class may mean a full server once and a lost connection later."""
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    first: dict[tuple[str, str, str], float | None] = {}
    example: dict[tuple[str, str, str], str] = {}
    for tally in observation.load.errors + observation.job_errors:
        key = (tally.error_class, classify_error(tally.error_class, tally.message), tally.source)
        counts[key] += tally.count
        seen = [t for t in (first.get(key), tally.first_s) if t is not None]
        first[key] = min(seen) if seen else None
        example.setdefault(key, tally.message)
    total = max(observation.load.total, 1)
    return tuple(
        ErrorSummary(error_class=cls, kind=kind, source=source, count=n, rate=round(n / total, 4),
                     first_s=first[(cls, kind, source)], example=example[(cls, kind, source)])
        for (cls, kind, source), n in sorted(counts.items(), key=lambda item: -item[1])
    )


def most_severe(observation: Observation, name: str) -> ResourcePrediction:
    """The resource's prediction in the topology that loads it most."""
    candidates = [p.resource(name) for p in observation.forecast.topologies]
    return max(candidates, key=lambda r: (_SEVERITY[r.status], r.worst_case))


def _shortfall(observation: Observation, name: str, predicted: ResourcePrediction, exhausted: bool) -> list[str]:
    """Why a peak fell short of what the prediction says the apps would hold, with the figures that show it."""
    seen = observation.resource(name)
    if exhausted and seen.peak < predicted.capacity:
        line = (f"{name}: refused connections although its peak ({seen.peak}) stayed below capacity "
                f"({predicted.capacity})")
        why = LIMITS[name].refusal_note(observation.plan.limits[name])
        return [f"{line}; {why}" if why else line]
    if exhausted or seen.peak >= predicted.expected:
        return []
    line = f"{name}: the apps held {seen.peak} of the {predicted.expected} expected connections at once"
    below = [g for g in predicted.groups if seen.by_group.get(g.group, 0) < g.expected]
    short = [f"{g.group} {seen.by_group.get(g.group, 0)} of {g.expected}" for g in below]
    web = observation.plan.web
    threads = max(p.web_dynos for p in observation.forecast.topologies) * web.processes * web.threads
    if observation.plan.traffic.max_users < threads:
        line += f"; too few users to keep every thread busy ({observation.plan.traffic.max_users} users, {threads} " \
                "web threads)"
    elif short:
        uneven = all(g.tier == "web" for g in below)
        line += ("; requests spread unevenly over the processes, groups" if uneven else "; groups") + \
            " short of their expected count: " + ", ".join(short[:8]) + \
            (f" and {len(short) - 8} more" if len(short) > 8 else "")
    return [line]


def judge(observation: Observation) -> Verdict:
    failures: list[str] = []
    notes: list[str] = []
    errors = summarize_errors(observation)
    kinds: dict[str, int] = defaultdict(int)
    for error in errors:
        kinds[error.kind] += error.count

    exhausted: dict[str, bool] = {}
    for name in observation.plan.limits:
        predicted = most_severe(observation, name)
        seen = observation.resource(name)
        exhausted[name] = seen.rejected > 0
        if seen.peak > predicted.worst_case:
            failures.append(f"{name}: observed peak {seen.peak} is above the predicted worst case "
                            f"{predicted.worst_case}")
        if seen.peak > predicted.capacity:
            failures.append(f"{name}: observed peak {seen.peak} is above capacity {predicted.capacity}: the "
                            "reserved slots or the harness's own connections are not what the prediction assumes")
        if predicted.status == EXHAUSTS and not exhausted[name]:
            failures.append(f"{name}: predicted to exhaust (expected {predicted.expected} > capacity "
                            f"{predicted.capacity}) but refused no connection")
        if predicted.status == FITS and exhausted[name]:
            failures.append(f"{name}: predicted to fit but refused {seen.rejected} connection(s)")
        notes += _shortfall(observation, name, predicted, exhausted[name])
    starved = observation.forecast.initial.pool_starvation
    # Django's native pool retries a connection the database refused in the background: the request that waits
    # for it gets PoolTimeout, not "too many clients" (measured), so a full server explains its timeouts
    databases = [kind for name, kind in LIMITS.items() if kind.role == "database" and exhausted.get(name)]
    refused_behind_pool = observation.plan.orm.pool is not None and bool(databases)
    if kinds["pool_timeout"] and not starved and not refused_behind_pool:
        failures.append(f"{kinds['pool_timeout']} pool timeout(s) although no pool is smaller than its threads")
    if kinds["pool_timeout"] and refused_behind_pool:
        notes.append(f"{kinds['pool_timeout']} pool timeout(s) while {databases[0].title} refused connections: "
                     "Django's pool retries refused connections in the background and the waiting requests time out")
    if starved:
        notes.append("pool starvation predicted: " + "; ".join(starved))

    expect = observation.plan.expect
    unmet: list[str] = []
    for name in observation.plan.limits:
        resource_expect = expect.resource(name)
        seen = observation.resource(name)
        if resource_expect.peak is not None and not resource_expect.peak.holds(seen.peak):
            unmet.append(f"expected {name} peak {resource_expect.peak}, observed {seen.peak}")
        if resource_expect.rejected is not None and not resource_expect.rejected.holds(seen.rejected):
            unmet.append(f"expected {name} rejected {resource_expect.rejected}, observed {seen.rejected}")
        if resource_expect.exhausted is not None and resource_expect.exhausted != exhausted[name]:
            unmet.append(f"expected {name} exhausted={resource_expect.exhausted}, observed {exhausted[name]}")
        for group, rng in resource_expect.groups.items():
            value = seen.by_group.get(group, 0)
            if not rng.holds(value):
                unmet.append(f"expected {name} group {group} peak {rng}, observed {value}")
    for kind, rng in expect.errors.items():
        if not rng.holds(kinds[kind]):
            unmet.append(f"expected {kind} errors {rng}, observed {kinds[kind]}")

    return Verdict(
        prediction_held=not failures,
        config_fits=not any(exhausted.values()) and not kinds["pool_timeout"],
        expectations_met=not unmet,
        exhausted=exhausted,
        errors=errors,
        failures=tuple(failures + unmet),
        notes=tuple(notes),
    )

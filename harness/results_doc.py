"""A run's results.json as typed values: what the HTML report reads of it.

The contract is ``contract/results.schema.json``; ``harness.report.results`` writes the document and
``harness.pipeline`` adds ``plan`` and ``series``. ``read_results(doc, path)`` checks the parsed JSON against
that contract and builds a ``Results``; a document that is not what the contract says raises ``PlanError`` with
one line: the file, the field (``resources[1].capacity``) and what was expected there. A field the contract
requires must be present; an optional one may be absent or null (``None``). What the report does not read
(``startup_s``, ``failures_per_second``, ``run_dir``, the verdict's ``failures``) is neither read nor checked.

Numbers are kept as JSON gave them (an integral ``first_s`` stays an ``int``), so what is shown of them does
not change. Nothing here knows which servers there are: ``Results.resources`` is the document's list, in its
order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from harness.errors import PlanError
from harness.plan import APPS, ERROR_KINDS
from harness.prediction import AT_RISK, EXHAUSTS, FITS
from harness.validate import escaped, shown_path

__all__ = ["BACKENDS", "SCHEMA_PREFIX", "STATUSES", "AppError", "Event", "Exhaustion", "Figures", "GroupFigures",
           "Observed", "Predicted", "Requests", "Resource", "Results", "Verdict", "read_results"]

#: what ``schema`` starts with (``connlab.results/1`` today)
SCHEMA_PREFIX = "connlab.results/"
#: the contract's backends
BACKENDS = ("local", "docker", "external")
#: a prediction's status, and the predicted exhaustion
STATUSES = (FITS, AT_RISK, EXHAUSTS)

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Figures:
    """A prediction's two figures; ``status`` as the writer gives it (``fits``, ``at-risk``, ``exhausts``)."""

    expected: int
    worst_case: int
    status: str | None = None


@dataclass(frozen=True, kw_only=True)
class Predicted:
    """A resource's prediction at the start; ``final``, after the last scaling event, when events change it."""

    expected: int
    worst_case: int
    status: str | None = None
    final: Figures | None = None


@dataclass(frozen=True, kw_only=True)
class Observed:
    peak: int
    peak_method: str
    rejected: int
    sampled_peak: int | None = None
    first_rejected_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class GroupFigures:
    """One process group's figures on one resource (``web.1``, ``worker.1`` ...)."""

    group: str
    predicted_expected: int
    predicted_worst_case: int
    observed_peak: int


@dataclass(frozen=True, kw_only=True)
class Exhaustion:
    predicted: str
    observed: bool


@dataclass(frozen=True, kw_only=True)
class Resource:
    """One connection-limited server of the run, by the name the document gives it."""

    name: str
    limit: int
    capacity: int
    predicted: Predicted
    observed: Observed
    exhaustion: Exhaustion
    groups: tuple[GroupFigures, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Requests:
    total: int
    failed: int


@dataclass(frozen=True, kw_only=True)
class AppError:
    """An error the apps raised, by its class (the document's ``class``) and its contract kind."""

    error_class: str
    kind: str
    count: int
    rate: float | None = None
    first_s: float | None = None
    example: str | None = None
    source: str | None = None


@dataclass(frozen=True, kw_only=True)
class Event:
    t: float
    what: str


@dataclass(frozen=True, kw_only=True)
class Verdict:
    prediction_held: bool
    config_fits: bool
    expectations_met: bool | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Results:
    """What the report reads of one run's results.json. ``series``: each series' file by name (only the
    entries that name a file), None when the document lists its series as no object; ``plan``: the scenario
    as it ran, None when the document does not record it."""

    schema: str
    scenario: str
    app: str
    backend: str
    duration_s: float
    resources: tuple[Resource, ...]
    requests: Requests
    verdict: Verdict
    errors: tuple[AppError, ...] = ()
    events: tuple[Event, ...] = ()
    versions: Mapping[str, str] = field(default_factory=dict)
    plan: dict[str, Any] | None = None
    series: Mapping[str, str] | None = None
    stack_up_s: float | None = None
    time_to_verdict_s: float | None = None

    def resource(self, name: str) -> Resource | None:
        return next((r for r in self.resources if r.name == name), None)


_ABSENT = object()


def _shown(value: object) -> str:
    """``value`` as a line's few words: its JSON type, and the value when it is short."""
    if value is _ABSENT:
        return "nothing (the field is absent)"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return escaped(text if len(text) <= 40 else text[:37] + "...")  # nothing a terminal acts on (bidi controls)


@dataclass(frozen=True)
class _At:
    """Where in which file a value stands, for the one line of a ``PlanError``."""

    path: Path
    where: str = ""

    def key(self, name: str) -> _At:
        return _At(self.path, f"{self.where}.{name}" if self.where else name)

    def index(self, i: int) -> _At:
        return _At(self.path, f"{self.where}[{i}]")

    def fail(self, expected: str, value: object) -> NoReturn:
        where = self.where or "the document"
        raise PlanError([f"{shown_path(self.path)}: {where}: expected {expected}, found {_shown(value)}"])


def _object(value: Any, at: _At) -> dict[str, Any]:
    if not isinstance(value, dict):
        at.fail("an object", value)
    return value


def _list(value: Any, at: _At) -> list[Any]:
    if not isinstance(value, list):
        at.fail("a list", value)
    return value


def _int(value: Any, at: _At) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        at.fail("an integer", value)
    return value


def _count(value: Any, at: _At) -> int:
    number = _int(value, at)
    if number < 0:
        at.fail("an integer of 0 or more", value)
    return number


def _number(value: Any, at: _At) -> float:
    """A JSON number as it was parsed (an int stays an int)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        at.fail("a number", value)
    return value


def _seconds(value: Any, at: _At) -> float:
    number = _number(value, at)
    if number < 0:
        at.fail("a number of 0 or more", value)
    return number


def _text(value: Any, at: _At) -> str:
    if not isinstance(value, str):
        at.fail("a string", value)
    return value


def _name(value: Any, at: _At) -> str:
    if not isinstance(value, str) or not value:
        at.fail("a non-empty string", value)
    return value


def _flag(value: Any, at: _At) -> bool:
    if not isinstance(value, bool):
        at.fail("true or false", value)
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[Any, _At], str]:
    def read(value: Any, at: _At) -> str:
        if value not in choices:
            at.fail("one of " + ", ".join(choices), value)
        return str(value)
    return read


def _required(obj: dict[str, Any], key: str, at: _At, read: Callable[[Any, _At], T]) -> T:
    return read(obj.get(key, _ABSENT), at.key(key))


def _optional(obj: dict[str, Any], key: str, at: _At, read: Callable[[Any, _At], T]) -> T | None:
    value = obj.get(key)
    return None if value is None else read(value, at.key(key))


def _each(read: Callable[[Any, _At], T]) -> Callable[[Any, _At], tuple[T, ...]]:
    """A list's reader: each item read where it stands (``errors[2]``)."""
    def read_all(value: Any, at: _At) -> tuple[T, ...]:
        return tuple(read(item, at.index(i)) for i, item in enumerate(_list(value, at)))
    return read_all


def _items(obj: dict[str, Any], key: str, at: _At, read: Callable[[Any, _At], T]) -> tuple[T, ...]:
    """An optional list: empty when absent or null."""
    return _optional(obj, key, at, _each(read)) or ()


def _figures(value: Any, at: _At) -> Figures:
    obj = _object(value, at)
    return Figures(expected=_required(obj, "expected", at, _int), worst_case=_required(obj, "worst_case", at, _int),
                   status=_optional(obj, "status", at, _one_of(STATUSES)))


def _predicted(value: Any, at: _At) -> Predicted:
    first = _figures(value, at)
    return Predicted(expected=first.expected, worst_case=first.worst_case, status=first.status,
                     final=_optional(value, "final", at, _figures))


def _observed(value: Any, at: _At) -> Observed:
    obj = _object(value, at)
    return Observed(peak=_required(obj, "peak", at, _count), peak_method=_required(obj, "peak_method", at, _name),
                    rejected=_required(obj, "rejected", at, _count),
                    sampled_peak=_optional(obj, "sampled_peak", at, _count),
                    first_rejected_s=_optional(obj, "first_rejected_s", at, _number))


def _group(value: Any, at: _At) -> GroupFigures:
    obj = _object(value, at)
    return GroupFigures(group=_required(obj, "group", at, _name),
                        predicted_expected=_required(obj, "predicted_expected", at, _int),
                        predicted_worst_case=_required(obj, "predicted_worst_case", at, _int),
                        observed_peak=_required(obj, "observed_peak", at, _int))


def _exhaustion(value: Any, at: _At) -> Exhaustion:
    obj = _object(value, at)
    return Exhaustion(predicted=_required(obj, "predicted", at, _one_of(STATUSES)),
                      observed=_required(obj, "observed", at, _flag))


def _resource(value: Any, at: _At) -> Resource:
    obj = _object(value, at)
    return Resource(name=_required(obj, "name", at, _name), limit=_required(obj, "limit", at, _int),
                    capacity=_required(obj, "capacity", at, _int),
                    predicted=_required(obj, "predicted", at, _predicted),
                    observed=_required(obj, "observed", at, _observed),
                    groups=_items(obj, "groups", at, _group),
                    exhaustion=_required(obj, "exhaustion", at, _exhaustion))


def _resources(value: Any, at: _At) -> tuple[Resource, ...]:
    """The list of servers: at least one, each name once (a name is a figure's id on the page)."""
    if not _list(value, at):
        at.fail("a list of at least one resource", value)
    resources = _each(_resource)(value, at)
    seen: set[str] = set()
    for i, resource in enumerate(resources):
        if resource.name in seen:
            at.index(i).key("name").fail("a name no other resource has", resource.name)
        seen.add(resource.name)
    return resources


def _requests(value: Any, at: _At) -> Requests:
    obj = _object(value, at)
    return Requests(total=_required(obj, "total", at, _count), failed=_required(obj, "failed", at, _count))


def _error(value: Any, at: _At) -> AppError:
    obj = _object(value, at)
    return AppError(error_class=_required(obj, "class", at, _name), kind=_required(obj, "kind", at,
                                                                                   _one_of(ERROR_KINDS)),
                    count=_required(obj, "count", at, _count), rate=_optional(obj, "rate", at, _number),
                    first_s=_optional(obj, "first_s", at, _number), example=_optional(obj, "example", at, _text),
                    source=_optional(obj, "source", at, _text))


def _event(value: Any, at: _At) -> Event:
    obj = _object(value, at)
    return Event(t=_required(obj, "t", at, _number), what=_required(obj, "what", at, _text))


def _verdict(value: Any, at: _At) -> Verdict:
    obj = _object(value, at)
    return Verdict(prediction_held=_required(obj, "prediction_held", at, _flag),
                   config_fits=_required(obj, "config_fits", at, _flag),
                   expectations_met=_optional(obj, "expectations_met", at, _flag),
                   notes=_items(obj, "notes", at, _text))


def _versions(value: Any, at: _At) -> dict[str, str]:
    return {key: _text(version, at.key(key)) for key, version in _object(value, at).items()}


def _series(value: Any) -> dict[str, str] | None:
    """The contract allows an object, a list or a string; only an object names the report's files."""
    if not isinstance(value, dict):
        return None
    return {key: name for key, name in value.items() if isinstance(name, str)}


def read_results(doc: Any, path: Path) -> Results:
    """``doc`` (results.json as parsed, read from ``path``) as a ``Results``; a ``PlanError`` of one line (the
    file, the field, what was expected) when it is not what the contract says."""
    at = _At(path)
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith(SCHEMA_PREFIX):
        raise PlanError([f'{shown_path(path)}: not a connlab results.json (no "schema": "{SCHEMA_PREFIX}1")'])
    return Results(
        schema=str(doc["schema"]),
        scenario=_required(doc, "scenario", at, _text),
        app=_required(doc, "app", at, _one_of(APPS)),
        backend=_required(doc, "backend", at, _one_of(BACKENDS)),
        duration_s=_required(doc, "duration_s", at, _seconds),
        resources=_required(doc, "resources", at, _resources),
        requests=_required(doc, "requests", at, _requests),
        errors=_required(doc, "errors", at, _each(_error)),
        events=_items(doc, "events", at, _event),
        verdict=_required(doc, "verdict", at, _verdict),
        versions=_optional(doc, "versions", at, _versions) or {},
        plan=_optional(doc, "plan", at, _object),
        series=_series(doc.get("series")),
        stack_up_s=_optional(doc, "stack_up_s", at, _number),
        time_to_verdict_s=_optional(doc, "time_to_verdict_s", at, _number),
    )

"""Prediction: the connection arithmetic, a pure function of the plan.

For each server the plan names (``plan.limits``, in the registry's order), its demand module
(``harness.resources.demands``, one per server kind: ``harness/resources/<name>/demand.py``) gives every process
group's connections, expected and worst case, by the process kinds' formulas (``harness.kinds``: one module per
kind, each formula there once, with the measurements behind it in its docstring; ``connlab check`` calls the
same functions)::

    expected (resource)   = the sum over its groups' expected figures
    worst case (resource) = the sum over its groups' worst cases
    capacity              = the server's own (its ``limits`` module: what production gives the apps' role)

The expected figures assume the traffic reaches the database: a web tier whose
requests never query (db_share = 1 - enqueue_share - cache_share = 0) and a
worker tier that gets no jobs (enqueue_share = 0) open nothing, since every
pool connects lazily: their expected count is 0 (the worst case stays).

A thread holds at most one connection, and a pool never lends more than S at
once, hence ``min(T, S)``; the worst case is every pool filled to its size
(threads that died and were replaced, app code that spawns threads).
Capacity is what production gives the apps' role (not a superuser); the
harness's own connections are not in it: the stack starts each server with one
extra slot for the harness's one admin connection (each server's ``server`` module).

Status: ``exhausts`` when expected > capacity, ``at-risk`` when only the worst
case is, ``fits`` otherwise (``harness.prediction``). Pool starvation (T > S, or
C > S) is flagged apart: it shows as pool timeouts while the server still has room.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.plan import Plan
from harness.prediction import AT_RISK, EXHAUSTS, FITS, GroupPrediction, Prediction, ResourcePrediction
from harness.resources.demands import DEMANDS

__all__ = ["AT_RISK", "EXHAUSTS", "FITS", "Forecast", "GroupPrediction", "Prediction", "ResourcePrediction",
           "TopologyChange", "forecast", "predict"]


def change_key(index: int, phase: str = "") -> str:
    """The name a change of topology shares between the forecast and the run's timeline (``events.Step``): the
    event's place in the plan's ``events`` and, for a deploy, its phase (``start``, ``end``)."""
    return f"events[{index}]" + (f".{phase}" if phase else "")


@dataclass(frozen=True, kw_only=True)
class TopologyChange:
    """The prediction after an event changed the web tier; ``key`` (``change_key``) names the timeline step that
    makes it happen, so the run can say when it really did."""

    at_s: float
    key: str
    prediction: Prediction


@dataclass(frozen=True, kw_only=True)
class Forecast:
    """The prediction at the start and after each scaling event, in order."""

    initial: Prediction
    after_events: tuple[TopologyChange, ...]

    @property
    def final(self) -> Prediction:
        return self.after_events[-1].prediction if self.after_events else self.initial

    @property
    def topologies(self) -> tuple[Prediction, ...]:
        """Every prediction, the initial one first."""
        return (self.initial, *(change.prediction for change in self.after_events))

    @property
    def changes(self) -> bool:
        return bool(self.after_events)


def _web_pool(plan: Plan) -> tuple[int, str]:
    """The web's pool size and its name, for starvation: Django's max_size, its threads without a pool."""
    if plan.orm.name != "django":
        return plan.web.pool, f"a pool of {plan.web.pool}"
    if plan.orm.pool is None:
        return plan.web.threads, "Django connections (one per thread)"
    return plan.orm.pool.max_size, f"Django's pool of max_size {plan.orm.pool.max_size}"


def _resources(plan: Plan, dynos: int, versions: Mapping[str, str]) -> tuple[ResourcePrediction, ...]:
    """Every server the plan names, its groups from its demand module (``harness.resources.demands``)."""
    return tuple(ResourcePrediction(name=name, limit=limits.limit, capacity=limits.capacity,
                                    groups=tuple(DEMANDS[name](plan, dynos=dynos, versions=versions)))
                 for name, limits in plan.limits.items())


def predict(plan: Plan, *, web_dynos: int | None = None, versions: Mapping[str, str] | None = None) -> Prediction:
    """The arithmetic for the plan, with the web tier at ``web_dynos`` (default: as planned), for the stack's
    ``versions`` (``harness.versions``; none given: Rails 6.1 and Sidekiq 6, Debian bookworm's)."""
    versions = versions or {}
    dynos = plan.web.dynos if web_dynos is None else web_dynos
    starvation = []
    web_pool, pool_name = _web_pool(plan)
    if plan.web.threads > web_pool:
        starvation.append(f"web: {plan.web.threads} threads share {pool_name}")
    if plan.worker is not None and plan.worker.kind == "threaded" and plan.worker.concurrency > plan.worker.pool:
        starvation.append(f"worker: concurrency {plan.worker.concurrency} shares a pool of {plan.worker.pool}")
    return Prediction(
        web_dynos=dynos,
        resources=_resources(plan, dynos, versions),
        pool_starvation=tuple(starvation),
    )


def forecast(plan: Plan, *, versions: Mapping[str, str] | None = None) -> Forecast:
    """The prediction before the traffic and after each event that changes the topology.

    ``scale`` sets the web dynos; a preboot ``deploy`` runs the old and the new
    set side by side for ``overlap_s`` (twice the dynos), then the new set alone.
    """
    after: list[TopologyChange] = []
    dynos = plan.web.dynos
    for i, event in enumerate(plan.events):
        if event.action == "scale":
            dynos = event.dynos
            after.append(TopologyChange(at_s=event.at_s, key=change_key(i),
                                        prediction=predict(plan, web_dynos=dynos, versions=versions)))
        elif event.action == "deploy":
            after.append(TopologyChange(at_s=event.at_s, key=change_key(i, "start"),
                                        prediction=predict(plan, web_dynos=2 * dynos, versions=versions)))
            after.append(TopologyChange(at_s=event.at_s + event.overlap_s, key=change_key(i, "end"),
                                        prediction=predict(plan, web_dynos=dynos, versions=versions)))
    return Forecast(initial=predict(plan, versions=versions),
                    after_events=tuple(sorted(after, key=lambda change: change.at_s)))

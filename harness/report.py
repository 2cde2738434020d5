"""Report: results.json (``contract/results.schema.json``) and the terminal tables.

``results(observation, verdict)`` builds the contract's document; ``show_*``
print with rich. Nothing here measures or decides: it only lays out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.observation import Observation
from harness.predict import Forecast, Prediction, ResourcePrediction
from harness.verdict import Verdict, most_severe
from harness.versions import describe

SCHEMA_ID = "connlab.results/1"


def _figures(resource: ResourcePrediction) -> dict[str, Any]:
    return {"expected": resource.expected, "worst_case": resource.worst_case, "status": resource.status}


def _resource(observation: Observation, verdict: Verdict, name: str) -> dict[str, Any]:
    initial = observation.forecast.initial.resource(name)
    severe = most_severe(observation, name)
    seen = observation.resource(name)
    predicted: dict[str, Any] = _figures(initial)
    if observation.forecast.changes:
        predicted["final"] = _figures(observation.forecast.final.resource(name))
    group_names = [g.group for g in severe.groups] + sorted(set(seen.by_group) - {g.group for g in severe.groups})
    by_name = {g.group: g for g in severe.groups}
    groups = []
    for group in group_names:
        g = by_name.get(group)
        groups.append({
            "group": group,
            "predicted_expected": g.expected if g else 0,
            "predicted_worst_case": g.worst_case if g else 0,
            "observed_peak": seen.by_group.get(group, 0),
        })
    return {
        "name": name,
        "limit": initial.limit,
        "capacity": initial.capacity,
        "predicted": predicted,
        "observed": {"peak": seen.peak, "peak_method": seen.peak_method, "sampled_peak": seen.sampled_peak,
                     "rejected": seen.rejected, "first_rejected_s": seen.first_rejected_s},
        "groups": groups,
        "exhaustion": {"predicted": severe.status, "observed": verdict.exhausted[name]},
    }


def results(observation: Observation, verdict: Verdict, *, time_to_verdict_s: float) -> dict[str, Any]:
    plan = observation.plan
    return {
        "schema": SCHEMA_ID,
        "scenario": plan.name,
        "app": plan.app,
        "backend": observation.backend,
        "versions": observation.versions,
        "duration_s": observation.duration_s,
        "resources": [_resource(observation, verdict, name) for name in plan.limits],
        "requests": {"total": observation.load.total, "failed": observation.load.failed},
        "errors": [
            {"class": e.error_class, "kind": e.kind, "source": e.source, "count": e.count, "rate": e.rate,
             "first_s": e.first_s, "example": e.example}
            for e in verdict.errors
        ],
        "events": [{"t": e.t, "what": e.what} for e in observation.events],
        "verdict": {
            "prediction_held": verdict.prediction_held,
            "config_fits": verdict.config_fits,
            "expectations_met": verdict.expectations_met,
            "failures": list(verdict.failures),
            "notes": list(verdict.failures) + list(verdict.notes),
        },
        "startup_s": observation.startup_s,
        "stack_up_s": observation.stack_up_s,
        "time_to_verdict_s": time_to_verdict_s,
        "phases_s": dict(observation.phases_s),
        "failures_per_second": {str(k): v for k, v in observation.load.failures_per_second.items()},
        "run_dir": str(observation.run_dir),
    }


def write_results(document: dict[str, Any], run_dir: Path) -> Path:
    path = run_dir / "results.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def prediction_document(forecast: Forecast, scenario: str) -> dict[str, Any]:
    def one(prediction: Prediction) -> dict[str, Any]:
        return {
            "web_dynos": prediction.web_dynos,
            "pool_starvation": list(prediction.pool_starvation),
            "resources": [
                {"name": r.name, "limit": r.limit, "capacity": r.capacity, **_figures(r),
                 "groups": [{"group": g.group, "expected": g.expected, "worst_case": g.worst_case}
                            for g in r.groups]}
                for r in prediction.resources
            ],
        }
    return {
        "scenario": scenario,
        "initial": one(forecast.initial),
        "after_events": [{"at_s": c.at_s, **one(c.prediction)} for c in forecast.after_events],
    }


_STATUS_STYLE = {"fits": "green", "at-risk": "yellow", "exhausts": "red"}


def _prediction_table(title: str, prediction: Prediction) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("resource", "limit", "capacity", "expected", "worst case", "status"):
        table.add_column(column, justify="left" if column in ("resource", "status") else "right")
    for r in prediction.resources:
        style = _STATUS_STYLE[r.status]
        table.add_row(r.name, str(r.limit), str(r.capacity), str(r.expected), str(r.worst_case),
                      f"[{style}]{r.status}[/{style}]")
        for g in r.groups:
            table.add_row(f"  {g.group}", "", "", str(g.expected), str(g.worst_case), "", style="dim")
    return table


def show_forecast(console: Console, forecast: Forecast, scenario: str) -> None:
    console.print(_prediction_table(f"{scenario}: prediction", forecast.initial))
    for change in forecast.after_events:
        console.print(_prediction_table(f"after t={change.at_s:g} s: web at {change.prediction.web_dynos} dynos",
                                        change.prediction))
    for line in forecast.initial.pool_starvation:
        console.print(f"[yellow]pool starvation:[/yellow] {line}")


def show_results(console: Console, document: dict[str, Any], verdict: Verdict) -> None:
    table = Table(title=f"{document['scenario']} ({document['app']}, {document['backend']}): predicted vs observed",
                  title_justify="left", caption=f"ran {describe(document.get('versions', {}))}", caption_justify="left")
    for column in ("resource / group", "capacity", "expected", "worst case", "observed peak", "rejected",
                   "predicted", "exhausted"):
        table.add_column(column, justify="left" if column in ("resource / group", "predicted") else "right")
    for r in document["resources"]:
        predicted = r["predicted"].get("final", r["predicted"])
        status = r["exhaustion"]["predicted"]
        style = _STATUS_STYLE[status]
        table.add_row(r["name"], str(r["capacity"]), str(predicted["expected"]), str(predicted["worst_case"]),
                      f"{r['observed']['peak']} ({r['observed']['peak_method']})", str(r["observed"]["rejected"]),
                      f"[{style}]{status}[/{style}]", "yes" if r["exhaustion"]["observed"] else "no")
        for g in r["groups"]:
            table.add_row(f"  {g['group']}", "", str(g["predicted_expected"]), str(g["predicted_worst_case"]),
                          str(g["observed_peak"]), "", "", "", style="dim")
    console.print(table)
    if document["errors"]:
        errors = Table(title="errors", title_justify="left")
        for column in ("class", "kind", "seen by", "count", "rate", "first at"):
            errors.add_column(column, justify="left" if column in ("class", "kind", "seen by") else "right")
        for e in document["errors"]:
            first = "" if e["first_s"] is None else f"{e['first_s']:.1f} s"
            seen_by = "users" if e["source"] == "web" else "jobs"
            errors.add_row(e["class"], e["kind"], seen_by, str(e["count"]), f"{e['rate']:.1%}", first)
        console.print(errors)
    requests = document["requests"]
    console.print(f"requests: {requests['total']} total, {requests['failed']} failed; stack up in "
                  f"{document['stack_up_s']:.1f} s; verdict after {document['time_to_verdict_s']:.1f} s")
    if document.get("phases_s"):
        console.print("phases: " + ", ".join(f"{name.replace('_', ' ')} {seconds:.1f} s"
                                             for name, seconds in document["phases_s"].items()), style="dim")
    for event in document["events"]:
        console.print(f"  t={event['t']:>5.1f} s  {event['what']}")
    for line in verdict.failures:
        console.print(f"[red]x[/red] {line}")
    for line in verdict.notes:
        console.print(f"[dim]- {line}[/dim]")
    held = "[green]held[/green]" if verdict.prediction_held else "[red]did not hold[/red]"
    fits = "[green]fits[/green]" if verdict.config_fits else "[red]does not fit[/red]"
    met = "[green]met[/green]" if verdict.expectations_met else "[red]not met[/red]"
    console.print(f"prediction {held}; configuration {fits}; expectations {met}")

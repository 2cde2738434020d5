"""Teaching mode: ``connlab demo`` runs the classic examples in order, each a short real run.

The steps are the scenario files in ``scenarios/demo/`` (``NN-name.yaml``,
run in file-name order; shipped as package data): 1 process x 1 thread, 1 x 2,
2 x 2, 2 dynos x 2 x 2 (the article's 6 that is 8), Sidekiq's Postgres and
Redis counts, a rake task and a console, the autoscaler going over the limit
and the autoscaler capped at what fits. Before each step the demo prints its
arithmetic with the step's numbers plugged in (``arithmetic``) and the
prediction table; it runs the step (``harness.pipeline.execute``: a real stack,
a few seconds of traffic), then prints what was measured per group and one
line saying whether the two agree (``agreement``). It pauses between steps
when asked to and stdin is a terminal. With ``web`` each step's traffic is
Locust's own web UI instead of the step's stages: a person presses Start and
sets the users (the step's own figure is suggested), and the step lasts the
plan's duration from then. It writes every step's run folder under
``<out>/demo-<timestamp>/`` and, after each step, ``index.html`` there: one
plain, self-contained page linking each step's ``report.html`` (the pipeline
writes it; the step's ``results.json`` where there is none), with the predicted
and observed figures and the verdict per step.

Printing is this module's; errors are raised (``ConnlabError``) for the CLI to
map to exit codes.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

from harness.assets import SCENARIOS_DIR
from harness.ground.lifetime import run_lifetime
from harness.kinds.demand import counted
from harness.live import PanelView
from harness.pipeline import Outcome, execute
from harness.plan import Plan, load_plan
from harness.predict import EXHAUSTS, GroupPrediction, Prediction, ResourcePrediction, forecast
from harness.report import show_forecast
from harness.resources.limits import LIMITS
from harness.stack.apps import ensure_app
from harness.verdict import most_severe
from harness.versions import assumed

DEMO_DIR = SCENARIOS_DIR / "demo"


def demo_steps() -> list[Path]:
    """The demo's scenario files, in the order they run."""
    return sorted(DEMO_DIR.glob("[0-9][0-9]-*.yaml"))


def title(plan: Plan) -> str:
    """``04-two-dynos-the-6-that-is-8`` -> ``two dynos the 6 that is 8``."""
    return plan.name.split("-", 1)[-1].replace("-", " ")


@dataclass(frozen=True, kw_only=True)
class Term:
    """One addend of a resource's sum: the formula with the step's numbers, and its figures."""

    label: str
    expected: int
    worst_case: int


def _who(plan: Plan, prediction: Prediction, group: GroupPrediction, count: int) -> str:
    """Who holds a term's connections: ``2 dynos``, ``2 Sidekiq processes``."""
    if group.tier == "web":
        return counted(prediction.web_dynos, "dyno")
    name = f"{group.kind} " if group.kind else ""
    return counted(count, f"{name}process", f"{name}processes")


def _gives(head: str, group: GroupPrediction) -> bool:
    """Whether a formula's head (``C + 1 = 6``, ``min(2 threads, pool 5)``) is the group's figure: one that ends
    in ``= N`` is when N is; one without is when it is a single formula (no sum, no range)."""
    if not head or ".." in head:
        return False
    if " = " in head:
        return head.rsplit(" = ", 1)[1] == str(group.expected)
    return "; " not in group.formula


def _term(plan: Plan, prediction: Prediction, groups: list[GroupPrediction]) -> Term:
    """One tier's addend: who holds it times the kind's formula (``harness.kinds``, via the group's), where the
    formula is a single one that gives the figure; else the figure; ``each up to`` where the worst case differs."""
    one = groups[0]
    who = _who(plan, prediction, one, len(groups))
    head, _, reason = one.formula.partition(": ")
    if one.expected == 0 and one.worst_case > 0:
        label = f"{who} ({reason or 'none connect'})"
    elif _gives(head, one):
        label = f"{who} x " + (f"({head})" if " = " in head and not head.endswith(")") else head)
    else:
        label = f"{who} x {one.expected}"
    if one.tier == "worker" and one.worst_case != one.expected and one.expected > 0:
        label += f", each up to {one.worst_case}"
    return Term(label=label, expected=sum(g.expected for g in groups), worst_case=sum(g.worst_case for g in groups))


def _terms(plan: Plan, prediction: Prediction, resource: ResourcePrediction) -> list[Term]:
    """A resource's addends: the web tier, the workers, then each extra group by the scenario's own counts."""
    terms = []
    for tier in ("web", "worker"):
        groups = [g for g in resource.groups if g.tier == tier]
        if groups and any(g.worst_case for g in groups):
            terms.append(_term(plan, prediction, groups))
    for group in dict.fromkeys(e.group for e in plan.extras):
        found = next((g for g in resource.groups if g.group == group), None)
        if found is None:
            continue
        parts = [f"{e.count} x {counted(e.connections, 'connection')}" for e in plan.extras if e.group == group]
        terms.append(Term(label=f"{group} {' + '.join(parts)}", expected=found.expected, worst_case=found.worst_case))
    return terms


def _sum_line(plan: Plan, terms: list[Term], resource: ResourcePrediction) -> str:
    total = f"{' + '.join(str(t.expected) for t in terms)} = " if len(terms) > 1 else ""
    room = LIMITS[resource.name].room(plan.limits[resource.name])
    worst = f"worst case, every pool full: {resource.worst_case}"
    return (f"{resource.name}: {' + '.join(t.label for t in terms)} = {total}{resource.expected} of {room} "
            f"({worst}): {resource.status}")


def arithmetic(plan: Plan, versions: dict[str, str] | None = None) -> list[str]:
    """The step's formulas with its numbers plugged in: the database (and each other server where anything holds
    it), before the traffic and after each event that changes the topology (the database only)."""
    predicted = forecast(plan, versions=versions)
    lines = []
    first = _database(plan)
    for at_s, prediction in ((None, predicted.initial), *((c.at_s, c.prediction) for c in predicted.after_events)):
        prefix = "" if at_s is None else f"after t={at_s:g} s (web at {counted(prediction.web_dynos, 'dyno')}), "
        for resource in prediction.resources:
            terms = _terms(plan, prediction, resource)
            if resource.name == first or (terms and at_s is None):
                lines.append(prefix + _sum_line(plan, terms, resource))
    return lines


def _database(plan: Plan) -> str:
    """The server the demo is about: the first the plan names whose role is the database."""
    return next((name for name in plan.limits if LIMITS[name].role == "database"), next(iter(plan.limits)))


@dataclass(frozen=True, kw_only=True)
class StepResult:
    number: int
    name: str
    title: str
    description: str
    arithmetic: tuple[str, ...]
    predicted: str
    observed: str
    agrees: bool
    agreement: str
    link: str
    seconds: float


def _figures(outcome: Outcome, name: str) -> tuple[str, str, str]:
    """The resource's predicted and observed figures, and the groups' observed peaks."""
    predicted = most_severe(outcome.observation, name)
    seen = outcome.observation.resource(name)
    if predicted.status == EXHAUSTS:
        wanted = f"{predicted.expected} > capacity {predicted.capacity}"
    elif seen.peak != predicted.expected:  # load-dependent: anywhere up to the worst case holds
        wanted = f"{predicted.expected} (up to {predicted.worst_case})"
    else:
        wanted = str(predicted.expected)
    observed = str(seen.peak) + (f", {seen.rejected} refused" if seen.rejected else "")
    order = [g.group for g in predicted.groups]  # web.1 .. web.N, worker.1 .., the extras
    named = sorted(seen.by_group, key=lambda g: (order.index(g) if g in order else len(order), g))
    groups = ", ".join(f"{g} {seen.by_group[g]}" for g in named)
    return wanted, observed, groups


def _shown(outcome: Outcome) -> list[str]:
    """The servers a step shows: the database, and each other one that anything holds or that saw a connection."""
    first = _database(outcome.observation.plan)
    return [name for name in outcome.observation.plan.limits
            if name == first or most_severe(outcome.observation, name).worst_case > 0
            or outcome.observation.resource(name).peak > 0]


def measured(outcome: Outcome) -> str:
    """One line: the observed peak per resource and per group, and what was refused."""
    parts = []
    for name in _shown(outcome):
        seen = outcome.observation.resource(name)
        _, _, groups = _figures(outcome, name)
        refused = f"{seen.rejected} refused" if seen.rejected else "none refused"
        parts.append(f"{name} peak {seen.peak} ({groups or 'no group'}), {refused}")
    return "measured: " + "; ".join(parts)


def agreement(outcome: Outcome) -> str:
    """One line: ``agrees: predicted 8, observed 8``, or why not."""
    verdict = outcome.verdict
    if not verdict.passed:
        return "does not agree: " + "; ".join(verdict.failures)
    parts = []
    first = _database(outcome.observation.plan)
    for name in _shown(outcome):
        predicted = most_severe(outcome.observation, name)
        seen = outcome.observation.resource(name)
        wanted, observed, _ = _figures(outcome, name)
        prefix = "" if name == first else f"{name} "
        if predicted.status == EXHAUSTS:
            parts.append(f"{prefix}predicted {wanted}, so it refuses: observed peak {seen.peak} = capacity and "
                         f"{seen.rejected} refused")
        else:
            parts.append(f"{prefix}predicted {wanted}, observed {observed}")
    return "agrees: " + "; ".join(parts)


def _report_link(demo_dir: Path, run_dir: Path) -> str:
    """The step's report.html, else its results.json, relative to the demo's folder."""
    report = run_dir / "report.html"
    target = report if report.exists() else run_dir / "results.json"
    return target.relative_to(demo_dir).as_posix()


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .5rem; text-align: left; vertical-align: top; }
td.n { text-align: right; white-space: nowrap; }
.ok { color: #17692b; } .bad { color: #b3261e; }
code { font-size: .85rem; display: block; white-space: pre-wrap; color: #444; }
p.d { margin: .25rem 0; color: #555; font-size: .9rem; }
"""


def write_index(demo_dir: Path, app: str, steps: list[StepResult], *, database: str) -> Path:
    """``index.html``: every step, linked to its report, with predicted vs observed and the verdict."""
    rows = []
    for s in steps:
        verdict = ('<span class="ok">agrees</span>' if s.agrees else '<span class="bad">does not agree</span>')
        rows.append(
            f"<tr><td class=\"n\">{s.number}</td>"
            f"<td><a href=\"{html.escape(s.link)}\">{html.escape(s.title)}</a>"
            f"<p class=\"d\">{html.escape(s.description)}</p>"
            f"<code>{html.escape(chr(10).join(s.arithmetic))}</code></td>"
            f"<td class=\"n\">{html.escape(s.predicted)}</td><td class=\"n\">{html.escape(s.observed)}</td>"
            f"<td>{verdict}<p class=\"d\">{html.escape(s.agreement)} (verdict after {s.seconds:.1f} s)</p></td></tr>")
    agreed = sum(s.agrees for s in steps)
    page = (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>connlab demo ({html.escape(app)})</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>connlab demo</h1><p>{html.escape(app)} app, {len(steps)} steps, {agreed} agree. {html.escape(database)} "
        "connections: predicted (expected, up to the worst case) and observed (the peak replayed from "
        f"{html.escape(database)}'s log).</p>\n"
        "<table><thead><tr><th>#</th><th>step</th><th>predicted</th><th>observed</th><th>verdict</th></tr></thead>"
        f"<tbody>\n{chr(10).join(rows)}\n</tbody></table></body></html>\n")
    path = demo_dir / "index.html"
    path.write_text(page)
    return path


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    steps: tuple[StepResult, ...]
    index: Path
    seconds: float

    @property
    def all_agree(self) -> bool:
        return all(s.agrees for s in self.steps)


def run_demo(*, app: str | None, out: Path, pause: bool, console: Console, web: bool = False,
             say: Callable[[str], None] = lambda _: None, notice: Callable[[str], None] | None = None) -> DemoResult:
    """Run every demo step on ``app`` (default: each file's own, Rails), printing as it goes; ``web``: each step's
    traffic from Locust's web UI, driven by hand. The steps are one run (``harness.ground.lifetime``): begun before
    the first, ended after the last or whichever way the demo leaves; ``notice`` gets its lines (default: ``say``)."""
    began = time.monotonic()
    plans = [load_plan(path, app=app) for path in demo_steps()]
    for needed in dict.fromkeys(plan.app for plan in plans):
        ensure_app(needed)  # a missing Ruby is one line before anything runs
    demo_dir = out.resolve() / f"demo-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    demo_dir.mkdir(parents=True)
    results: list[StepResult] = []
    database = LIMITS[_database(plans[0])].title
    index = write_index(demo_dir, plans[0].app, results, database=database)
    with run_lifetime(notice or say):  # the steps are one run: one reaper, one sweep at the end
        for number, plan in enumerate(plans, start=1):
            if number > 1 and pause:
                try:
                    console.input("[dim]press Enter for the next step[/dim] ")
                except EOFError:
                    pause = False
            console.print(Rule(f"step {number} of {len(plans)}: {title(plan)}"))
            console.print(plan.description, markup=False, highlight=False)
            for line in arithmetic(plan, versions=assumed(plan.app, "local")):
                console.print(f"[bold]{escape(line)}[/bold]", highlight=False)
            show_forecast(console, forecast(plan, versions=assumed(plan.app, "local")), plan.name)
            if web:
                stages = ", then ".join(f"{s.users} users for {s.duration_s:g} s" for s in plan.traffic.stages)
                console.print(f"in Locust's web UI (its address follows), the step's own traffic: {stages}, spawn rate "
                              f"{plan.traffic.stages[0].spawn_rate:g}; the step lasts {plan.traffic.duration_s:g} s "
                              "from Start", markup=False, highlight=False)
            view = PanelView(console, f"step {number}: {plan.name} ({plan.app})") if console.is_terminal else None
            outcome = execute(plan, out=demo_dir, say=say, view=view, web=web)
            console.print(measured(outcome), markup=False, highlight=False)
            line = agreement(outcome)
            console.print(f"[{'green' if outcome.verdict.passed else 'red'}]{escape(line)}[/]", highlight=False)
            wanted, observed, _ = _figures(outcome, _database(plan))
            results.append(StepResult(
                number=number, name=plan.name, title=title(plan), description=plan.description,
                arithmetic=tuple(arithmetic(plan, versions=outcome.observation.versions)), predicted=wanted,
                observed=observed, agrees=outcome.verdict.passed, agreement=line,
                link=_report_link(demo_dir, outcome.run_dir),
                seconds=float(outcome.document["time_to_verdict_s"])))
            index = write_index(demo_dir, plan.app, results, database=database)
    seconds = round(time.monotonic() - began, 1)
    agreed = sum(s.agrees for s in results)
    console.print(Rule())
    console.print(f"demo: {len(results)} steps in {seconds:g} s, {agreed} agree; every step's report: {index}")
    return DemoResult(steps=tuple(results), index=index, seconds=seconds)

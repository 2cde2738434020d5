"""The events timeline: what happens to the stack while the traffic runs.

``timeline(plan, stack, load, clock)`` turns the plan's events and one-offs
into ``Step``s, in time order; each step's action does its work and returns
the line that goes into the run's events. A step may move a later one (a
deploy's old dynos stop ``overlap_s`` after the new ones are up, however long
they took to boot), so the driver sorts again after each step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from harness.load import LoadRun
from harness.plan import Event, Extra, Plan
from harness.predict import change_key, predict
from harness.resources import registry
from harness.stack.stack import Deployment, Stack

Action = Callable[[], str]
Clock = Callable[[], float]


@dataclass(kw_only=True)
class Step:
    """An action due ``at_s`` seconds into the traffic (mutable: a step may be moved)."""

    at_s: float
    action: Action
    label: str = ""
    #: for a change of the web tier (scale, deploy), the forecast's key for it (``predict.change_key``): the
    #: prediction steps when this step has happened
    change: str | None = None


def _predicted(plan: Plan, stack: Stack, dynos: int) -> str:
    """Each server's prediction for the new topology, where anything holds it."""
    return "; ".join(f"{r.name} now expected {r.expected}, worst case {r.worst_case}, capacity {r.capacity}: {r.status}"
                     for r in predict(plan, web_dynos=dynos, versions=stack.versions).resources if r.worst_case > 0)


def _scale(plan: Plan, stack: Stack, load: LoadRun, dynos: int) -> str:
    before = stack.web_dynos
    stack.scale_web(dynos)
    load.set_targets(stack.web_targets)
    return f"scaled web from {before} to {dynos} dynos; {_predicted(plan, stack, dynos)}"


class _Deploy:
    """A preboot deploy: new dynos first, traffic moved to them, old ones stopped ``overlap_s`` after that."""

    def __init__(self, plan: Plan, stack: Stack, load: LoadRun, clock: Clock, event: Event, index: int) -> None:
        self.plan, self.stack, self.load, self.clock = plan, stack, load, clock
        self.old: Deployment | None = None
        self.replaced = 0
        self.finish_step = Step(at_s=event.at_s + event.overlap_s, action=self.finish, label="deploy: old dynos stop",
                                change=change_key(index, "end"))
        self.overlap_s = event.overlap_s

    def start(self) -> str:
        self.replaced = self.stack.web_dynos
        self.old = self.stack.deploy()
        self.load.set_targets(self.stack.web_targets)
        self.finish_step.at_s = self.clock() + self.overlap_s
        running, old = self.stack.web_dynos, self.replaced
        return f"deploy: {running - old} new dynos up beside {old} old; {_predicted(self.plan, self.stack, running)}"

    def finish(self) -> str:
        assert self.old is not None
        self.stack.retire(self.old)
        return f"deploy: {self.replaced} old dynos stopped; {_predicted(self.plan, self.stack, self.stack.web_dynos)}"


def _start_extra(stack: Stack, extra: Extra) -> str:
    stack.start_extra(extra)
    return f"started {extra.count} x {extra.group} holding {extra.connections} connection(s) for {extra.hold_s:g} s"


def _event_steps(plan: Plan, stack: Stack, load: LoadRun, clock: Clock, event: Event, index: int) -> list[Step]:
    if event.action == "scale":
        return [Step(at_s=event.at_s, action=partial(_scale, plan, stack, load, event.dynos),
                     label=f"scale web to {event.dynos} dynos", change=change_key(index))]
    if event.action == "deploy":
        deploy = _Deploy(plan, stack, load, clock, event, index)
        return [Step(at_s=event.at_s, action=deploy.start, label="preboot deploy", change=change_key(index, "start")),
                deploy.finish_step]
    # a server's fault: the plan only admits the tier's events and the faults the servers bring
    server, fault = registry.fault(event.action)
    return [Step(at_s=event.at_s, action=partial(stack.fault, server.name, fault.run, event.group),
                 label=fault.label(event.group))]


def timeline(plan: Plan, stack: Stack, load: LoadRun, clock: Clock) -> list[Step]:
    """The run's steps in time order; ``clock()`` is the time into the traffic."""
    steps: list[Step] = []
    for index, event in enumerate(plan.events):
        steps += _event_steps(plan, stack, load, clock, event, index)
    for extra in plan.extras:
        label = f"start {extra.count} x {extra.group}"
        steps += [Step(at_s=at_s, action=partial(_start_extra, stack, extra), label=label)
                  for at_s in extra.start_times(plan.traffic.duration_s)]
    return sorted(steps, key=lambda step: step.at_s)

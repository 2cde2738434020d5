"""Run: bring the stack up, drive the traffic and the events timeline, collect, tear down.

``run(plan, run_dir)`` returns an ``Observation``: everything measured, with
the forecast it is to be compared with. The stack is always torn down, whatever
happens (a crash of a part, Ctrl-C, SIGTERM raised as ``Interrupted``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from harness.collect import job_errors
from harness.errors import LoadError_
from harness.events import Step, timeline
from harness.ground.process import free_port
from harness.live import LineView, Monitor, View
from harness.load import LoadRun
from harness.observation import Observation, TimelineEvent
from harness.phases import Phases
from harness.plan import Plan
from harness.predict import forecast
from harness.resources.limits import LIMITS
from harness.resources.registry import RESOURCES
from harness.signals import shielded
from harness.stack.apps import ensure_app
from harness.stack.backends import make_stack
from harness.stack.stack import Stack
from harness.versions import describe

TICK_S = 0.05
LOAD_OVERRUN_S = 30.0


def run(plan: Plan, run_dir: Path, *, backend: str = "local", say: Callable[[str], None] = lambda _: None,
        view: View | None = None, web: bool = False) -> Observation:
    """Run the scenario for real on ``backend`` and return what was observed; ``view`` shows it going (default:
    a plain line through ``say`` every few seconds). ``web``: Locust's own web UI on 127.0.0.1, where a person
    starts the test and sets the users; the events and the collectors work as always."""
    view = view or LineView(say)
    phases = Phases()
    for name, limits in plan.limits.items():
        RESOURCES[name].preflight(plan.path, limits, backend)  # fail before anything starts
    if backend == "local":
        ensure_app(plan.app, plan.web.server)
    run_dir.mkdir(parents=True, exist_ok=True)
    phases.mark("preflight")
    began = time.monotonic()
    stack = make_stack(plan, run_dir, resources=RESOURCES, backend=backend, say=say)
    load = LoadRun(plan, run_dir, [], web_port=free_port() if web else None)
    try:
        load.launch()  # Locust imports while the stack comes up; its test waits for load.start()
        titles = ", ".join(LIMITS[name].title for name in plan.limits)
        say(f"starting {titles} and {plan.app} on 127.0.0.1 ({backend}) ...")
        view.starting(stack)
        stack.up()
        phases.mark("stack_up")
        say(f"running {describe(stack.versions)}")
        say(f"stack up in {stack.up_s:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in stack.startup_s.items())})")
        collectors = {name: RESOURCES[name].collector(server) for name, server in stack.servers.items()}
        for collector in collectors.values():
            collector.start()
        load.set_targets(stack.web_targets)
        if load.web_port is not None:
            say(f"Locust's web UI: http://127.0.0.1:{load.web_port}/ : press Start there (users, spawn rate); "
                f"the run lasts {plan.traffic.duration_s:g} s from then, the events at their times")
        monitor = Monitor(plan=plan, live_file=load.live_file, collectors=collectors)
        try:
            events = _drive(plan, stack, load, say, lambda now, pending: view.update(monitor.snapshot(now, pending)),
                            phases)
        except BaseException:
            load.stop()
            for collector in collectors.values():
                with contextlib.suppress(Exception):  # a crashed part's error is the one to tell, not a read's
                    collector.stop()
            raise
        load.stop()
        stack.check_alive()  # a server that died at the very end is a crashed part, not a failed read
        for collector in collectors.values():
            collector.stop()  # sampling ends; what must be read while the servers run is read now
        load_result = load.result()
        phases.mark("load_stop")  # Locust stopped, the collectors' last reads, the tally
    finally:
        with shielded():  # a Ctrl-C now is noted and raised once the stack is down, its folders removed
            view.stop()
            load.stop()  # a Locust launched for a stack that never came up
            stack.down()  # apps first, then the servers: every disconnection is in the log before the replay
    phases.mark("teardown")
    resources = []
    for name, collector in collectors.items():
        observed = collector.observe(traffic_start_epoch_s=load.started_epoch_s or 0.0)
        found = observed.observation
        resources.append(found)
        if found.first_rejected_s is not None:
            events.append(TimelineEvent(t=found.first_rejected_s,
                                        what=f"{name} refused its first connection ({found.rejected} in all)"))
        events += [TimelineEvent(t=max(e.t for e in events), what=note) for note in observed.notes]
    phases.mark("replay")
    return Observation(
        plan=plan,
        forecast=forecast(plan, versions=stack.versions),
        run_dir=run_dir,
        resources=tuple(resources),
        load=load_result,
        job_errors=job_errors(run_dir),
        events=tuple(sorted(events, key=lambda e: e.t)),
        startup_s=dict(stack.startup_s),
        stack_up_s=stack.up_s or 0.0,
        duration_s=round(time.monotonic() - began, 3),
        phases_s=phases.seconds,
        backend=backend,
        versions=dict(stack.versions),
    )


def _drive(plan: Plan, stack: Stack, load: LoadRun, say: Callable[[str], None],
           tick: Callable[[float, list[Step]], None], phases: Phases) -> list[TimelineEvent]:
    """Start the traffic and fire the events timeline until the traffic ends."""
    t0 = 0.0
    pending = timeline(plan, stack, load, clock=lambda: time.time() - t0)
    t0 = load.start()
    phases.mark("load_start")
    say(f"traffic started: {len(plan.traffic.stages)} stage(s), {plan.traffic.duration_s:g} s")
    happened = [TimelineEvent(t=0.0, what="traffic started")]
    deadline = plan.traffic.duration_s + LOAD_OVERRUN_S
    while not load.finished():
        stack.check_alive()
        now = time.time() - t0
        while pending and pending[0].at_s <= now:
            step = pending.pop(0)
            what = step.action()
            pending.sort(key=lambda later: later.at_s)
            happened.append(TimelineEvent(t=round(time.time() - t0, 3), what=what,
                                          change=step.change))
            say(f"t={happened[-1].t:.1f} s: {what}")
        tick(now, pending)
        if now > deadline:
            raise LoadError_(f"the traffic should have ended after {plan.traffic.duration_s:g} s "
                             f"and was still running after {now:.0f} s")
        time.sleep(TICK_S)
    happened.append(TimelineEvent(t=round(time.time() - t0, 3), what="traffic ended"))
    phases.mark("traffic")
    return happened

"""Run: bring the stack up, drive the traffic and the events timeline, collect, tear down.

``run(plan, run_dir)`` returns an ``Observation``: everything measured, with
the forecast it is to be compared with. The stack is always torn down, whatever
happens (a crash of a part, Ctrl-C, SIGTERM raised as ``Interrupted``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from harness.collect import PostgresSampler, RedisSampler, job_errors, replay_postgres_log
from harness.errors import LoadError_
from harness.events import Step, timeline
from harness.ground.process import free_port
from harness.live import LineView, Monitor, View
from harness.load import LoadRun
from harness.observation import Observation, Peaks, ResourceObservation, TimelineEvent
from harness.plan import Plan
from harness.predict import forecast
from harness.redis_log import FinalRead, exact_or_why, final_read, replay_redis_log
from harness.signals import shielded
from harness.stack.apps import ensure_app
from harness.stack.backends import make_stack
from harness.stack.base import Stack
from harness.stack.postgres import ssl_bin_dir
from harness.versions import describe

TICK_S = 0.05
LOAD_OVERRUN_S = 30.0


def _postgres_observation(exact: Peaks, sampled: Peaks, traffic_start_epoch_s: float) -> ResourceObservation:
    use_log = exact.changes or not sampled.changes
    first = exact.first_rejected_epoch_s
    changes, refusals = exact.on_clock(traffic_start_epoch_s)
    return ResourceObservation(
        name="postgres",
        peak=exact.total if use_log else sampled.total,
        peak_method="log-events" if use_log else "sampled",
        sampled_peak=sampled.total,
        rejected=exact.rejected,
        by_group=exact.by_group if use_log else sampled.by_group,
        first_rejected_s=None if first is None else round(first - traffic_start_epoch_s, 3),
        exact=changes, sampled=sampled.on_clock(traffic_start_epoch_s)[0], refusals=refusals,
    )


def _redis_observation(stack: Stack, final: FinalRead, sampled: Peaks,
                       traffic_start_epoch_s: float) -> tuple[ResourceObservation, str | None]:
    """The exact figures replayed from Valkey's log when they agree with the server, else the sampled ones and why."""
    try:
        exact = replay_redis_log(stack.redis_log, maxclients=stack.redis_server_maxclients,
                                 final_clients=final.clients, kills=stack.redis_kills())
    except OSError as exc:
        why: str | None = f"Valkey's log could not be read: {exc}"
    else:
        why = exact_or_why(exact, final)
    samples = sampled.on_clock(traffic_start_epoch_s)[0]
    if why is not None:
        return ResourceObservation(name="redis", peak=sampled.total, peak_method="sampled", sampled_peak=sampled.total,
                                   rejected=final.rejected, by_group=sampled.by_group, sampled=samples), why
    first = exact.first_rejected_epoch_s
    changes, refusals = exact.on_clock(traffic_start_epoch_s)
    return ResourceObservation(
        name="redis", peak=exact.total, peak_method="log-events", sampled_peak=sampled.total, rejected=exact.rejected,
        by_group=exact.by_group,
        first_rejected_s=None if first is None else round(first - traffic_start_epoch_s, 3),
        exact=changes, sampled=samples, refusals=refusals,
    ), None


def run(plan: Plan, run_dir: Path, *, backend: str = "local", say: Callable[[str], None] = lambda _: None,
        view: View | None = None, web: bool = False) -> Observation:
    """Run the scenario for real on ``backend`` and return what was observed; ``view`` shows it going (default:
    a plain line through ``say`` every few seconds). ``web``: Locust's own web UI on 127.0.0.1, where a person
    starts the test and sets the users; the events and the collectors work as always."""
    view = view or LineView(say)
    if backend == "local":
        ensure_app(plan.app, plan.web.server)
        if plan.postgres.ssl:
            ssl_bin_dir()  # fail before anything starts when no Postgres with OpenSSL is installed
    run_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    stack = make_stack(plan, run_dir, backend=backend, say=say)
    try:
        say(f"starting Postgres, Valkey and {plan.app} on 127.0.0.1 ({backend}) ...")
        view.starting(stack)
        stack.up()
        say(f"running {describe(stack.versions)}")
        say(f"stack up in {stack.up_s:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in stack.startup_s.items())})")
        pg_sampler = PostgresSampler(stack.postgres_admin)
        redis_sampler = RedisSampler(stack.redis_admin)
        pg_sampler.start()
        redis_sampler.start()
        load = LoadRun(plan, run_dir, stack.web_targets, web_port=free_port() if web else None)
        if load.web_port is not None:
            say(f"Locust's web UI: http://127.0.0.1:{load.web_port}/ : press Start there (users, spawn rate); "
                f"the run lasts {plan.traffic.duration_s:g} s from then, the events at their times")
        monitor = Monitor(plan=plan, stack=stack, live_file=load.live_file, postgres=pg_sampler,
                          redis=redis_sampler)
        try:
            events = _drive(plan, stack, load, say, lambda now, pending: view.update(monitor.snapshot(now, pending)))
        finally:
            load.stop()
            sampled_pg = pg_sampler.stop()
            sampled_redis = redis_sampler.stop()
        load_result = load.result()
        redis_final = final_read(stack.redis_admin)  # the clients still connected, and the server's refusals
    finally:
        with shielded():  # a Ctrl-C now is noted and raised once the stack is down, its folders removed
            view.stop()
            stack.down()  # apps first, then the servers: every disconnection is in the log before the replay
    exact_pg = replay_postgres_log(stack.postgres_log)
    postgres = _postgres_observation(exact_pg, sampled_pg, load.started_epoch_s or 0.0)
    if postgres.first_rejected_s is not None:
        events.append(TimelineEvent(t=postgres.first_rejected_s,
                                    what=f"postgres refused its first connection ({postgres.rejected} in all)"))
    redis, redis_why = _redis_observation(stack, redis_final, sampled_redis, load.started_epoch_s or 0.0)
    if redis.first_rejected_s is not None:
        events.append(TimelineEvent(t=redis.first_rejected_s,
                                    what=f"redis refused its first connection ({redis.rejected} in all)"))
    if redis_why is not None:
        events.append(TimelineEvent(t=max(e.t for e in events),
                                    what=f"redis: the sampled peak is reported, not an exact one: {redis_why}"))
    return Observation(
        plan=plan,
        forecast=forecast(plan, versions=stack.versions),
        run_dir=run_dir,
        postgres=postgres,
        redis=redis,
        load=load_result,
        job_errors=job_errors(run_dir),
        events=tuple(sorted(events, key=lambda e: e.t)),
        startup_s=dict(stack.startup_s),
        stack_up_s=stack.up_s or 0.0,
        duration_s=round(time.monotonic() - began, 3),
        backend=backend,
        versions=dict(stack.versions),
    )


def _drive(plan: Plan, stack: Stack, load: LoadRun, say: Callable[[str], None],
           tick: Callable[[float, list[Step]], None]) -> list[TimelineEvent]:
    """Start the traffic and fire the events timeline until the traffic ends."""
    t0 = 0.0
    pending = timeline(plan, stack, load, clock=lambda: time.time() - t0)
    t0 = load.start()
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
    return happened

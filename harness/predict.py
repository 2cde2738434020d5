"""Prediction: the connection arithmetic, a pure function of the plan.

Postgres, per group (T = threads, S = pool, P = processes per dyno, D = dynos)::

    web.i     expected = P x min(T, S)        worst case = P x S
    worker.i  expected = min(C, S)            worst case = S          (C = concurrency)
              forking (RQ): expected = C, worst = C (+ 1 when the parent
              connects before forking: the unsafe pattern)
    extra     expected = worst = count x connections x overlapping bursts
              (rake tasks, consoles; a burst repeated every_s overlaps the
              next ones while it holds: the most bursts holding at one instant)

    expected (resource) = sum over groups = D x P x min(T, S) + W x min(C, S) + extras
    capacity            = max_connections - superuser_reserved_connections

A thread holds at most one connection, and a pool never lends more than S at
once, hence ``min(T, S)``; the worst case is every pool filled to its size
(threads that died and were replaced, app code that spawns threads).
Capacity is what production gives the apps' role (not a superuser); the
harness's own connections are not in it: the stack starts each server with one
extra slot for the harness's one admin connection (``harness.stack.postgres``).

Redis, per group::

    web.i     expected = worst = P x T when the traffic enqueues jobs, else 0
              (the client pool is sized to the threads; one connection per
              thread that enqueues at the same instant)
    worker.i  rails (Sidekiq 6): expected = C + 1 (one BRPOP per processor plus
              the heartbeat, measured here), worst = C + 5 (Sidekiq's pool size)
              python (dramatiq): expected = worst = C + 2 (two consumers
              plus one ack per job thread, see ``_worker_redis``);
              forking (RQ): expected 3C + 1, worst 4C + 1
    capacity  = maxclients (the harness's one connection has a slot of its own)

Status: ``exhausts`` when expected > capacity, ``at-risk`` when only the worst
case is, ``fits`` otherwise. Pool starvation (T > S, or C > S) is flagged apart:
it shows as pool timeouts while the server still has room.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.plan import Plan, WorkerTier

FITS, AT_RISK, EXHAUSTS = "fits", "at-risk", "exhausts"


@dataclass(frozen=True, kw_only=True)
class GroupPrediction:
    group: str
    tier: str
    expected: int
    worst_case: int


@dataclass(frozen=True, kw_only=True)
class ResourcePrediction:
    name: str
    limit: int
    capacity: int
    groups: tuple[GroupPrediction, ...]

    @property
    def expected(self) -> int:
        return sum(g.expected for g in self.groups)

    @property
    def worst_case(self) -> int:
        return sum(g.worst_case for g in self.groups)

    @property
    def status(self) -> str:
        if self.expected > self.capacity:
            return EXHAUSTS
        if self.worst_case > self.capacity:
            return AT_RISK
        return FITS


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """The arithmetic for one topology (the plan's web tier at ``web_dynos`` dynos)."""

    web_dynos: int
    resources: tuple[ResourcePrediction, ...]
    pool_starvation: tuple[str, ...]

    def resource(self, name: str) -> ResourcePrediction:
        return next(r for r in self.resources if r.name == name)


@dataclass(frozen=True, kw_only=True)
class Forecast:
    """The prediction at the start and after each scaling event, in order."""

    initial: Prediction
    after_events: tuple[tuple[float, Prediction], ...]

    @property
    def final(self) -> Prediction:
        return self.after_events[-1][1] if self.after_events else self.initial

    @property
    def changes(self) -> bool:
        return bool(self.after_events)


def _worker_postgres(worker: WorkerTier) -> tuple[int, int]:
    """Postgres connections of one worker process: (expected, worst case)."""
    c, s = worker.concurrency, worker.pool
    if worker.kind == "forking":
        # one work horse per job, one thread each: one connection per running job whatever the pool;
        # an unsafe parent also keeps the connection it opened before forking
        return c, c + (1 if worker.fork_safety == "unsafe" else 0)
    return min(c, s), s


def _worker_redis(app: str, worker: WorkerTier) -> tuple[int, int]:
    """Redis connections of one worker process: (expected, worst case)."""
    c = worker.concurrency
    if worker.kind == "forking":
        # RQ 3: each of the C workers keeps two (its blocking fetch and its heartbeat/registry
        # calls), each running horse opens its own (redis-py does not share a pool across fork),
        # the supervisor holds one: 3C + 1, measured 9-10 at C = 3; a horse reporting its
        # result while another call is open can take a second one: 4C + 1
        return 3 * c + 1, 4 * c + 1
    if app == "rails":
        return c + 1, c + 5
    # dramatiq's RedisBroker: two consumers (the queue and its delay queue) each
    # hold a connection; each job thread takes one to ack when it finishes.
    # Measured here at concurrency 4: 2 idle, 3 with 2 s jobs, 4-5 in a burst
    # of 0 ms jobs. Every thread acking at once is C + 2, and nothing else
    # touches Redis, so the unbounded pool never goes past that.
    return c + 2, c + 2


def _postgres(plan: Plan, dynos: int) -> ResourcePrediction:
    web = plan.web
    groups = [
        GroupPrediction(group=f"web.{i}", tier="web", expected=web.processes * min(web.threads, web.pool),
                        worst_case=web.processes * web.pool)
        for i in range(1, dynos + 1)
    ]
    if plan.worker is not None:
        expected, worst = _worker_postgres(plan.worker)
        groups += [
            GroupPrediction(group=f"worker.{i}", tier="worker", expected=expected, worst_case=worst)
            for i in range(1, plan.worker.processes + 1)
        ]
    by_group: dict[str, int] = {}
    for extra in plan.extras:
        starts = extra.start_times(plan.traffic.duration_s) or (extra.at_s,)
        overlapping = max(sum(1 for s in starts if s <= t < s + extra.hold_s) for t in starts)
        by_group[extra.group] = by_group.get(extra.group, 0) + extra.count * extra.connections * overlapping
    groups += [GroupPrediction(group=g, tier="extra", expected=n, worst_case=n) for g, n in by_group.items()]
    limits = plan.postgres
    return ResourcePrediction(
        name="postgres",
        limit=limits.max_connections,
        capacity=limits.max_connections - limits.superuser_reserved_connections,
        groups=tuple(groups),
    )


def _redis(plan: Plan, dynos: int) -> ResourcePrediction:
    web = plan.web
    per_dyno = web.processes * web.threads if plan.traffic.enqueue_share > 0 else 0
    groups = [
        GroupPrediction(group=f"web.{i}", tier="web", expected=per_dyno, worst_case=per_dyno)
        for i in range(1, dynos + 1)
    ]
    if plan.worker is not None:
        expected, worst = _worker_redis(plan.app, plan.worker)
        groups += [
            GroupPrediction(group=f"worker.{i}", tier="worker", expected=expected, worst_case=worst)
            for i in range(1, plan.worker.processes + 1)
        ]
    return ResourcePrediction(
        name="redis",
        limit=plan.redis.maxclients,
        capacity=plan.redis.maxclients,
        groups=tuple(groups),
    )


def predict(plan: Plan, *, web_dynos: int | None = None) -> Prediction:
    """The arithmetic for the plan, with the web tier at ``web_dynos`` (default: as planned)."""
    dynos = plan.web.dynos if web_dynos is None else web_dynos
    starvation = []
    if plan.web.threads > plan.web.pool:
        starvation.append(f"web: {plan.web.threads} threads share a pool of {plan.web.pool}")
    if plan.worker is not None and plan.worker.kind == "threaded" and plan.worker.concurrency > plan.worker.pool:
        starvation.append(f"worker: concurrency {plan.worker.concurrency} shares a pool of {plan.worker.pool}")
    return Prediction(
        web_dynos=dynos,
        resources=(_postgres(plan, dynos), _redis(plan, dynos)),
        pool_starvation=tuple(starvation),
    )


def forecast(plan: Plan) -> Forecast:
    """The prediction before the traffic and after each event that changes the topology.

    ``scale`` sets the web dynos; a preboot ``deploy`` runs the old and the new
    set side by side for ``overlap_s`` (twice the dynos), then the new set alone.
    """
    after: list[tuple[float, Prediction]] = []
    dynos = plan.web.dynos
    for event in plan.events:
        if event.action == "scale":
            dynos = event.dynos
            after.append((event.at_s, predict(plan, web_dynos=dynos)))
        elif event.action == "deploy":
            after.append((event.at_s, predict(plan, web_dynos=2 * dynos)))
            after.append((event.at_s + event.overlap_s, predict(plan, web_dynos=dynos)))
    return Forecast(initial=predict(plan), after_events=tuple(sorted(after, key=lambda item: item[0])))

"""Prediction: the connection arithmetic, a pure function of the plan.

Postgres, per group (T = threads, S = pool, P = processes per dyno, D = dynos)::

    web.i     expected = P x min(T, S)        worst case = P x S
              (a request holds its connection to its end: Rails <= 7.1;
              see "Versions" for a checkout per query with work_ms)
              Unicorn (server: unicorn): T = 1, expected = P x min(1, S) = P,
              worst = P x S: a pool over 1 only waits
              rails, fork_safety unsafe (preloaded, Puma or Unicorn): the
              master's ActiveRecord connection and the raw one its workers
              share; their own pools open nothing: expected = 2 whatever the
              traffic, worst = 2 + P x S
    worker.i  expected = min(C, S)            worst case = S          (C = concurrency)
              forking (RQ): expected = C, worst = C (+ 1 when the parent
              connects before forking: the unsafe pattern)
              forking (Rails, Resque-style): expected = worst = C (the
              guidance's before_fork closes the worker's own before it forks);
              unsafe: C + 1 both (ActiveRecord discards inherited pools, so
              every child opens its own beside the parent's shared one)
    extra     expected = worst = count x connections x overlapping bursts
              (rake tasks, consoles; a burst repeated every_s overlaps the
              next ones while it holds: the most bursts holding at one instant)

    expected (resource) = sum over groups = D x P x min(T, S) + W x min(C, S) + extras
    capacity            = max_connections - superuser_reserved_connections

Measured, the Rails forking worker (``connlab run rails-forking-worker-safe`` /
``-unsafe``: C = 3, 100 ms jobs, queue kept full, Postgres 15 with SSL): worker.1
peak 3 in 10 of 10 runs safe, no failed job; 4 in 10 of 10 unsafe, 38-56 failed
jobs in 4-5 s (every job that finished; users saw none). On Rails 7.2
(``--backend docker``, no SSL there): 3 and 4, one run each, the unsafe jobs
failing with PG::UnableToSend "lost synchronization with server".

The expected figures assume the traffic reaches the database: a web tier whose
requests never query (db_share = 1 - enqueue_share - cache_share = 0) and a
worker tier that gets no jobs (enqueue_share = 0) open nothing, since every
pool connects lazily: their expected count is 0 (the worst case stays).

A thread holds at most one connection, and a pool never lends more than S at
once, hence ``min(T, S)``; the worst case is every pool filled to its size
(threads that died and were replaced, app code that spawns threads).
Capacity is what production gives the apps' role (not a superuser); the
harness's own connections are not in it: the stack starts each server with one
extra slot for the harness's one admin connection (``harness.stack.postgres``).

Redis, per group, from the pools each process really opens (every pool opens
lazily and keeps what it opened, so a pool's peak is the most connections its
process ever used at one instant); each kind's formula is a function of
``harness.kinds`` (``sidekiq``, ``resque``, ``rq``, ``dramatiq``, ``cache``),
which ``connlab check`` calls too::

    web.i     P x (cache + job client), per web process:
              cache pool (pool_size = T; when cache_share > 0):
                  expected = T when no request holds a thread outside Redis for
                  long (db_share = 0: the rest are ~1 ms enqueues), else 1
                  (load-dependent: how many cache reads ever overlap); worst = T
              job client pool (Sidekiq's client pool, the twin's web pool, size
              T; when enqueue_share > 0): expected = 1 (enqueues that do not
              overlap), worst = T (load-dependent: how many ever overlap)
    worker.i  rails (Sidekiq 6.4): expected = C + 1 (a BRPOP per processor plus
                  the heartbeat), worst = C + 5 (Sidekiq's server pool size)
              rails (Sidekiq 7): expected = C + 1 (the capsule's pool, size C,
                  one BRPOP per processor; the heartbeat from the internal
                  pool), worst = C + 10 (capsule C + internal 10)
              python (dramatiq): expected = 1, worst = C + 2 (the queue's and
                  the delay queue's consumers share the pool: each fetch is a
                  non-blocking ~1 ms Lua call, then a backoff sleep, so the
                  second connection opens only when two fetches overlap,
                  usually at boot, where both start; plus an ack per job thread)
              forking (RQ): expected = 3C (each worker's fetch connection and
                  pubsub thread, one per running work horse), worst = 4C (a
                  horse recording its result holds a second: a WATCH pipeline
                  and a call inside it); the supervisor opens none
              forking (Rails, Resque-style): expected = worst = 2C (each
                  worker's BLPOP connection, kept; each running child's own,
                  Resque's reconnect after fork, closed before it exits)
              + the worker's cache pool when jobs read the cache (job_redis_ms
                  > 0; size C, an RQ horse opens its own): expected 1, worst C
    capacity  = maxclients (the harness's one connection has a slot of its own)

Where an expectation is load-dependent (the job client pool; a cache pool or a
worker whose figure lies between expected and worst), the expected figure is
what is sure to open, so ``exhausts`` means exhausted for certain, and a run
may land anywhere up to the worst case: give such scenarios no exact Redis
``peak``. Exact: the cache pools with db_share = 0, Sidekiq idle.

Measured (Valkey 8.1, redis-rb 4.8 / Sidekiq 6.4.1 / Rails 6.1, redis-py 8.1 /
dramatiq 2.2 / rq 3.0; ``connlab run <scenario>``: group peaks replayed from
Valkey's log; per process from ``ss -tnp`` every ~20 ms; which pool, from the
last command of each connection in Valkey's log when it closed: GET for the
cache, LPUSH / EVALSHA for enqueues, BRPOP for fetchers)::

    cache pool, db_share 0   2 x 5, cache_share 1, redis_ms 500, 20 users (redis-fits, rails-redis-fits):
                             5 + 5 in 7 of 7 runs per app; 2 x 3, cache_share 1, 12 users: 3 + 3, 4 runs
                             python, 3 rails; 2 x 4 with enqueues beside (cache 0.7 / 0.3 at 500 ms,
                             0.3 / 0.7 at 20 ms): 4 + 4, 4 of 4 runs per app
    cache pool, with /db     2 x 4, cache 0.5 / db 0.5, 500 ms each: 8 of 8 twice (python), 7 and 8 (rails)
    job client pool          per process: 1 at low enqueue rates (autoscale 2 x 3 at 10 %: 1 in 10 of 10
                             processes, 1-2 in another run), 1-2 (baseline, rails-baseline, dead-connections
                             2 x 2 at 20 %), 2 of 2 (sidekiq 1 x 2 at 50 %, 3 runs), 2-3 of 4 (2 x 4 at 30 %),
                             4 of 4 (2 x 4 at 70 % with 20 ms cache reads, both apps)
    Sidekiq C + 1            C = 2: 3 (rails-baseline, 4 runs; rails-dead-connections); C = 3: 4 (autoscale,
                             idle 3 runs, with jobs 2 runs); C = 5: 6 (rails-redis-fits/full, 20 runs);
                             C = 10: 11 in 5 of 6 processes (sidekiq), 10 in one (its first heartbeat done
                             before the processors waited, then the full queue kept them busy)
    dramatiq 1 .. 2          C = 2: 2 (baseline 5 runs, dead-connections 2); C = 3 or 5 idle: 2 (16 runs, both
                             opened within 4 ms of the worker's boot), 1 in a CI run on a loaded machine (redis-fits:
                             the consumers' first fetches did not overlap, and no later one did);
                             3 with jobs reading the cache (acks overlapping a consumer's fetch)
    RQ 3C .. 4C              C = 3: 12 in 5 of 7 runs, 11 in 2 (forking-worker-safe: 2 per RQ worker, 2 per
                             horse, at most 6 horse connections open at once), 9 twice (forking-worker-unsafe)
    Resque-style 2C          C = 3: 6 in 20 of 20 runs (rails-forking-worker-safe / -unsafe, 10 each, 100 ms jobs,
                             queue kept full; also on Rails 7.2 / redis-rb 5.3, --backend docker, 2 runs)
    worker cache pool        C = 3, jobs reading the cache 200 ms: 3 (Sidekiq and dramatiq, 2 runs each);
                             RQ C = 3, 100 ms: 15 = 4C + C (jobs 100 ms, 2 per enqueue, queue kept full)
    full Redis               redis-full (12) and rails-redis-full (16): peak exactly capacity in 26 of 26
                             runs (13 per app), users' 504s in every run, jobs failing in 12 of 12 at the
                             shipped 50 % enqueues (at 20 %, none in 1 of 5 Rails runs: no enqueue got a
                             slot before the cache pools filled Redis)

Versions (``harness.versions``; what the stack reported, else what the backend
is assumed to run) change two formulas:

    Rails <= 7.1   a request leases its connection at the first query and keeps
                   it to the end of the request, ``work_ms`` included (the
                   executor's clear_active_connections!): web as above
    Rails >= 7.2,  a query checks the connection out and gives it back (Rails
    the twin       7.2 runs model queries in with_connection; the twin's /db is
                   an engine.connect() block). With work_ms > 0 (q = query_ms,
                   w = work_ms) a thread is in a query q / (q + w) of its time:
                   expected = P x max(1, min(T, S, ceil(T x q / (q + w)))), the
                   mean number of threads in a query, what is sure to open;
                   worst = P x S. Load-dependent: the peak is how many queries
                   ever overlap (measured below). With work_ms = 0 the
                   request is its query, and the formula is the one above.
    Sidekiq 6      server pool C + 5: worst = C + 5
    Sidekiq >= 7   capsule pool C + internal pool 10: worst = C + 10

Measured: 1 process x 4 threads, pool 4, /db?ms=100&work_ms=400 with the pool's
checkout log: Rails 6.1 held each connection 504 ms, Rails 7.2 100 ms.
``connlab run rails-checkout`` (2 x 1 x 8, pool 8, 20 ms queries, ~480 ms work,
capacity 12): Rails 6.1.7 peak 12 of 12 with 58 and 434 refusals; Rails 7.2.2
(``--backend docker``) 6 and 8, no refusal. Five staggered clients on a warm
7.2 dyno hold 1 connection. What raises the 7.2 peak is queries that start
together: Locust spawns ``spawn_rate`` users at one instant, and with one fixed
work time they would stay in step the whole run (7 with capacity 20 before the
traffic drew each request's work at random). Sidekiq 7.3 (``connlab run
sidekiq --backend docker``): C = 10: 11 per process, 2 of 2 runs, as Sidekiq 6.4.

Unicorn 6.0 (Rails 6.1, 3 dynos x 3 workers, ``connlab run``): rails-unicorn-pool-5
(pool 5, Postgres 18): peak 9, 3 per dyno, in 10 of 10 runs; rails-unicorn-safe (pool 1,
after_fork connect, Postgres 15 with SSL): 9 in 14 of 14 (6 at the shipped 200 ms
queries, 8 at 50 ms), no error; both 9 on the docker backend too (Rails 7.2, Unicorn
6.1; the safe one without SSL). rails-unicorn-fork-unsafe (pool 5, a connection made
in the preloaded master, SSL): 6, 2 per dyno, in 15 of 15 (6 at 200 ms, 9 at 50 ms);
every worker's first request PG::ConnectionBad (SSL errors: 9 in every run), then
PG::UnableToSend "no connection to the server" for every later one (every request
failed in 13 runs, all but 1 of ~650 in 2). Puma's rails-fork-unsafe (3 x 2, with
and without SSL): 2 as well.

Django (``orm: django``: the twin's web tier under Django's own WSGI handler,
its request cycle deciding how long a connection lives; the worker tier stays
dramatiq or RQ over SQLAlchemy), per web process, T threads. Django's
connections are per thread and a request keeps its connection to its end
(``work_ms`` included), so a thread holds at most one; ``tiers.web.pool`` is
not Django's::

    CONN_MAX_AGE 0     expected = T, worst = 2T. The first query of a request
                       connects, request_finished closes: T busy at once, a
                       new session per request (churn). The server counts a
                       closed session until its backend has exited, and now
                       and then that is after the same thread's next session
                       was authorized: T + 1, up to T + T (every thread's
                       previous session still exiting)
    CONN_MAX_AGE N > 0 expected = worst = T: one per thread, opened once, kept
                       (closed and reopened by a request N s after it opened)
    OPTIONS["pool"]    expected = max(min_size, min(T, max_size)),
                       worst = max_size. Django opens the pool (psycopg_pool,
                       one per process) at the first query, and it opens
                       min_size at once, busy or not; it lends at most
                       max_size, a thread beyond that waits ``timeout`` s and
                       gets PoolTimeout (starvation: T > max_size). A cold
                       pool also grows past min_size when the first requests
                       ask before its min_size are up (growing one at a time
                       while a request waits: up to min(max_size, min_size + T))

No /db traffic opens nothing (the pool too opens at the first query). Measured
(Django 5.2.19, psycopg 3.3.9, psycopg_pool 3.3.3, Postgres 18.6, ``connlab
run``; 1 x 2 x 3, 9 users, 500 ms queries for 4 s unless said; sessions opened
counted from the log's ``connection authorized`` lines)::

    CONN_MAX_AGE 0     peak 6 in 12 of 19 runs, 7 in 7 (most at load 4-5 on 2
                       cores); 48-51 opened for 42 requests: one per request
                       (django-conn-max-age-0). At max_connections 6, no
                       reserved slot, exactly the 6 threads: "too many
                       clients" in 4 of 10 runs (1-5 refusals)
    CONN_MAX_AGE 60    peak 6, 6 opened, 9 of 9 runs (django-persistent); at
                       max_connections 6: no refusal in 6 of 6 runs
    pool 4..4          peak 8, 8 opened, 8 of 8 runs (django-pool)
    pool 2..6          peak 7 in 3 of 5 runs, 8 in 2 (expected 6): the cold
                       pools grew past min_size
    pool 1..2, T = 4   1 x 1 x 4, timeout 0.5 s, 1 s queries: peak 2, 2 opened,
                       9-11 PoolTimeouts, 8 of 8 runs (django-pool-timeout)
    no pool, over      2 x 2 x 3 against capacity 8: peak 8, 170-369 refused,
                       every error "too many clients", 8 of 8
                       (django-too-many-clients); the same with pool 2..2:
                       peak 8, no refusal, no error, 2 of 2
    pool 1..3, over    the same 2 x 2 x 3: peak 8, 6-9 refused and as many
                       PoolTimeouts, never "too many clients", 6 of 6 runs
                       (django-pool-server-full): the pool connects in the
                       background and retries a refusal, the waiting request
                       times out. One dyno's pools grew to 3 + 3, the other's
                       stayed at 1 + 1, and only that dyno's log names the
                       cause: psycopg_pool's warning "error connecting in
                       'pool-1': ... too many clients already", 6-9 times

``--backend docker`` (Django 5.2.19 vendored, Debian's psycopg 3.2.6 and
psycopg_pool, Postgres 17): the six scenarios once each, the same figures.

Status: ``exhausts`` when expected > capacity, ``at-risk`` when only the worst
case is, ``fits`` otherwise. Pool starvation (T > S, or C > S) is flagged apart:
it shows as pool timeouts while the server still has room.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from harness.kinds import Demand, cache, dramatiq, resque, rq, sidekiq
from harness.plan import Plan, WorkerTier
from harness.versions import checkout, sidekiq_major

__all__ = ["Forecast", "GroupPrediction", "Prediction", "ResourcePrediction", "TopologyChange", "forecast",
           "postgres_capacity", "predict", "worker_redis_kind"]

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


def _worker_postgres(worker: WorkerTier, app: str) -> tuple[int, int]:
    """Postgres connections of one worker process: (expected, worst case)."""
    c, s = worker.concurrency, worker.pool
    if worker.kind == "forking":
        # one work horse per job, one thread each: one connection per running job whatever the pool;
        # an unsafe parent also keeps the connection it opened before forking (the Rails worker's children
        # all open their own beside it, ActiveRecord's, so it is sure to be there with them: C + 1)
        unsafe = 1 if worker.fork_safety == "unsafe" else 0
        return c + (unsafe if app == "rails" else 0), c + unsafe
    return min(c, s), s


def _web_redis(plan: Plan, versions: Mapping[str, str]) -> tuple[int, int]:
    """Redis connections of one web process: (expected, worst case), by ``harness.kinds``' formulas."""
    t, traffic = plan.web.threads, plan.traffic
    demand = Demand(expected=0, worst=0, formula="")
    if traffic.cache_share > 0:
        # the cache pool (pool_size = threads): sure to fill only when nothing else holds the threads (the other
        # requests are enqueues of a millisecond or so); with /db requests beside them, load-dependent
        demand += cache.cache_redis(threads=t, size=t, sure=traffic.db_share == 0)
    if traffic.enqueue_share > 0:
        size = sidekiq.client_pool_size(major=sidekiq_major(versions), rails_max_threads=t) \
            if plan.app == "rails" else t
        demand += sidekiq.client_redis(threads=t, pool_size=size)
    return demand.expected, demand.worst


def _django_web_postgres(plan: Plan) -> tuple[int, int]:
    """Postgres connections of one Django web process (``orm: django``): (expected, worst case).

    A thread holds at most one connection (Django's are thread-local), for its whole request: CONN_MAX_AGE 0
    opens one per request and closes it at the end, N > 0 keeps it, so T either way (with no pool nothing
    else caps it: ``web.pool`` is not Django's); with 0 the server may still count each thread's previous
    session while its backend exits: 2T at worst. The native pool opens min_size at its first checkout and
    lends at most max_size: max(min_size, min(T, max_size)), worst max_size. Nothing opens without /db.
    """
    web, pool = plan.web, plan.orm.pool
    if pool is None:
        expected, worst = web.threads, web.threads * (2 if plan.orm.conn_max_age == 0 else 1)
    else:
        expected, worst = max(pool.min_size, min(web.threads, pool.max_size)), pool.max_size
    if plan.traffic.db_share == 0:
        expected = 0
    return web.processes * expected, web.processes * worst


def _web_pool(plan: Plan) -> tuple[int, str]:
    """The web's pool size and its name, for starvation: Django's max_size, its threads without a pool."""
    if plan.orm.name != "django":
        return plan.web.pool, f"a pool of {plan.web.pool}"
    if plan.orm.pool is None:
        return plan.web.threads, "Django connections (one per thread)"
    return plan.orm.pool.max_size, f"Django's pool of max_size {plan.orm.pool.max_size}"


def _web_postgres(plan: Plan, versions: Mapping[str, str]) -> tuple[int, int]:
    """Postgres connections of one web process: (expected, worst case)."""
    if plan.orm.name == "django":
        return _django_web_postgres(plan)
    web, traffic = plan.web, plan.traffic
    if plan.app == "rails" and web.fork_safety == "unsafe":
        # preload_app with connections made in the master and kept (config.ru): the master's own ActiveRecord
        # connection and the raw one every worker shares; the workers' pools, rebuilt after fork, open nothing
        # (their /db uses the shared one), whatever the traffic; worst: every worker's pool full besides
        return 2, 2 + web.processes * web.pool
    held = min(web.threads, web.pool)
    if plan.app == "python" and web.fork_safety == "unsafe":
        # the master's engine connects before forking and its connection is shared; each broken connection is
        # replaced at once, and Postgres counts the broken one until its backend exits, just after the
        # replacement is authorized (fork-unsafe in CI: 6 steady, a transient 8 = 2 dying + 6 new, 51.284-.302);
        # worst: the shared one + every pool slot replaced while its predecessor still counts
        return web.processes * held, 1 + 2 * web.processes * web.pool
    if traffic.db_share == 0:
        return 0, web.processes * web.pool
    if checkout(plan.app, versions) == "query" and traffic.work_ms > 0:
        q, w = traffic.query_ms, traffic.work_ms
        held = max(1, min(held, math.ceil(web.threads * q / (q + w))))
    return web.processes * held, web.processes * web.pool


def worker_redis_kind(plan: Plan, worker: WorkerTier, versions: Mapping[str, str]) -> tuple[str, Demand]:
    """The worker's kind (its ``TITLE``) and one process's Redis demand by that kind's formula, before any cache
    pool the jobs open: Resque-style (Rails, forking), RQ (the twin, forking), Sidekiq (Rails, threaded),
    dramatiq (the twin, threaded)."""
    c = worker.concurrency
    if worker.kind == "forking" and plan.app == "rails":
        return resque.TITLE, resque.worker_redis(workers=c)
    if worker.kind == "forking":
        return rq.TITLE, rq.worker_redis(workers=c)
    if plan.app == "rails":
        return sidekiq.TITLE, sidekiq.server_redis(concurrency=c, major=sidekiq_major(versions))
    return dramatiq.TITLE, dramatiq.worker_redis(threads=c)


def _worker_redis(plan: Plan, worker: WorkerTier, versions: Mapping[str, str]) -> tuple[int, int]:
    """Redis connections of one worker process: (expected, worst case), by ``harness.kinds``' formulas."""
    c = worker.concurrency
    demand = worker_redis_kind(plan, worker, versions)[1]
    if plan.traffic.job_redis_ms > 0 and plan.traffic.enqueue_share > 0:
        demand += cache.cache_redis(threads=c, size=c)  # jobs read the cache (an RQ horse opens one of its own)
    return demand.expected, demand.worst


def postgres_capacity(*, max_connections: int, superuser_reserved_connections: int) -> int:
    """What production gives the apps' role (not a superuser): ``max_connections - superuser_reserved_connections``."""
    return max_connections - superuser_reserved_connections


def _postgres(plan: Plan, dynos: int, versions: Mapping[str, str]) -> ResourcePrediction:
    web_expected, web_worst = _web_postgres(plan, versions)
    groups = [
        GroupPrediction(group=f"web.{i}", tier="web", expected=web_expected, worst_case=web_worst)
        for i in range(1, dynos + 1)
    ]
    if plan.worker is not None:
        expected, worst = _worker_postgres(plan.worker, plan.app)
        expected = expected if plan.traffic.enqueue_share > 0 else 0
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
    limits = plan.limits["postgres"]
    return ResourcePrediction(name="postgres", limit=limits.limit, capacity=limits.capacity, groups=tuple(groups))


def _redis(plan: Plan, dynos: int, versions: Mapping[str, str]) -> ResourcePrediction:
    per_process, per_process_worst = _web_redis(plan, versions)
    p = plan.web.processes
    groups = [
        GroupPrediction(group=f"web.{i}", tier="web", expected=p * per_process, worst_case=p * per_process_worst)
        for i in range(1, dynos + 1)
    ]
    if plan.worker is not None:
        expected, worst = _worker_redis(plan, plan.worker, versions)
        groups += [
            GroupPrediction(group=f"worker.{i}", tier="worker", expected=expected, worst_case=worst)
            for i in range(1, plan.worker.processes + 1)
        ]
    return ResourcePrediction(
        name="redis",
        limit=plan.limits["redis"].limit,
        capacity=plan.limits["redis"].capacity,
        groups=tuple(groups),
    )


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
        resources=(_postgres(plan, dynos, versions), _redis(plan, dynos, versions)),
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

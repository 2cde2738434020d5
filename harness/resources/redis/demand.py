"""Redis' share of a plan: the connections of every process group, by the kinds' formulas (``harness.kinds``).

Per group, from the pools each process really opens (every pool opens
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
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.kinds import Demand, cache, dramatiq, resque, rq, sidekiq
from harness.kinds.workers import worker_kind
from harness.plan import Plan
from harness.prediction import GroupPrediction
from harness.versions import sidekiq_major


def web_process(plan: Plan, versions: Mapping[str, str]) -> Demand:
    """One web process's Redis connections: its cache pool and its job client pool (module docstring)."""
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
    return demand


def worker_own(plan: Plan, versions: Mapping[str, str]) -> Demand:
    """One worker process's Redis connections by its kind, before any cache pool its jobs open: Resque-style
    (Rails, forking), RQ (the twin, forking), Sidekiq (Rails, threaded), dramatiq (the twin, threaded)."""
    worker = plan.worker
    assert worker is not None
    c = worker.concurrency
    kind = worker_kind(app=plan.app, forking=worker.kind == "forking")
    if kind == "resque":
        return resque.worker_redis(workers=c)
    if kind == "rq":
        return rq.worker_redis(workers=c)
    if kind == "sidekiq":
        return sidekiq.server_redis(concurrency=c, major=sidekiq_major(versions))
    return dramatiq.worker_redis(threads=c)


def worker_process(plan: Plan, versions: Mapping[str, str]) -> Demand:
    """``worker_own`` and the worker's cache pool when its jobs read the cache (an RQ horse opens its own)."""
    assert plan.worker is not None
    demand = worker_own(plan, versions)
    if plan.traffic.job_redis_ms > 0 and plan.traffic.enqueue_share > 0:
        demand += cache.cache_redis(threads=plan.worker.concurrency, size=plan.worker.concurrency)
    return demand


def groups(plan: Plan, *, dynos: int, versions: Mapping[str, str]) -> list[GroupPrediction]:
    """Every group's Redis connections with the web tier at ``dynos`` (module docstring)."""
    each, p = web_process(plan, versions), plan.web.processes
    formula = f"{p} x ({each.formula})" if each.formula else ""
    found = [GroupPrediction(group=f"web.{i}", tier="web", expected=p * each.expected, worst_case=p * each.worst,
                             formula=formula) for i in range(1, dynos + 1)]
    if plan.worker is not None:
        worker = worker_process(plan, versions)
        found += [GroupPrediction(group=f"worker.{i}", tier="worker", expected=worker.expected,
                                  worst_case=worker.worst, formula=worker.formula, kind=worker.kind)
                  for i in range(1, plan.worker.processes + 1)]
    return found

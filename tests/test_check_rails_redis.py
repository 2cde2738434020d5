"""connlab check on Rails apps' Redis and Rails 8's Solid trio: each figure worked out by hand from the fixtures'
files (tests/fixtures/apps/*, line numbers theirs) and the formulas of harness/kinds.

Sources of the rules: Rails' activesupport/lib/active_support/cache.rb ``retrieve_pool_options`` (v6.1.7,
v7.0.10: a pool only with ``pool_size:``/``pool_timeout:``; v7.1.0 .. v8.1.3: pooled by default,
``DEFAULT_POOL_OPTIONS = { size: 5, timeout: 5 }``, ``pool: false`` for none); actioncable's
subscription_adapter/redis.rb (a listener and a broadcast client per process); Solid Queue v1.5.0's
configuration.rb and DESIGN.md's measured facts (supervisor 2, dispatcher 3, scheduler 1, worker threads + 2).
"""

from __future__ import annotations

from pathlib import Path

from harness.check.arith import Limits
from harness.check.command import check
from harness.check.model import AppConfig, ProcessType
from harness.check.options import CheckOptions
from harness.check.rails import read_rails

APPS = Path(__file__).resolve().parent / "fixtures" / "apps"


def read(name: str | Path, env: dict[str, str] | None = None, flags: dict[str, int] | None = None) -> AppConfig:
    return read_rails(name if isinstance(name, Path) else APPS / name, env=env or {}, flags=flags or {})


def of(config: AppConfig, name: str) -> ProcessType:
    return next(t for t in config.process_types if t.name == name)


def redis(process: ProcessType) -> list[tuple[str, int, int]]:
    return [(u.what, u.expected.value, u.worst.value) for u in process.redis]


def options(formation: dict[str, int], *, pg: int | None = None, maxclients: int | None = None,
            flags: dict[str, int] | None = None, env: dict[str, str] | None = None) -> CheckOptions:
    return CheckOptions(formation=formation, autoscale=None, env=env or {}, flags=flags or {},
                        limits=Limits(postgres_max_connections=pg, redis_maxclients=maxclients))


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


# -- rails-redis-everywhere: redis_cache_store + Sidekiq client + ActionCable redis ---------------------------------

def test_redis_everywhere_per_process() -> None:
    config = read("rails-redis-everywhere")
    assert config.problems == ()
    web, worker, console = of(config, "web"), of(config, "worker"), of(config, "console")
    assert (web.processes.value, web.threads.value) == (2, 5)  # puma.rb:4 and :2, env unset
    # per web process: Rails.cache pool { size: ENV.fetch("RAILS_MAX_THREADS", 5) } (production.rb:7): 1 .. min(5, 5);
    # Sidekiq 7.3.2's client through the internal pool 10: 1 .. min(5, 10); ActionCable (cable.yml:8): 1 .. 2
    assert redis(web) == [("Rails.cache (redis_cache_store)", 1, 5), ("Sidekiq client", 1, 5),
                          ("ActionCable (redis)", 1, 2)]
    assert web.redis[0].worst.source.endswith("config/environments/production.rb:7 (RAILS_MAX_THREADS unset)")
    assert web.redis[2].worst.source.endswith("config/cable.yml:8")
    # Sidekiq at concurrency 10 (sidekiq.yml:1): 11 .. 20; its jobs' cache 1 .. min(10, 5); broadcasts 0 .. 1
    assert redis(worker) == [("Sidekiq server", 11, 20), ("Rails.cache (redis_cache_store)", 1, 5),
                             ("ActionCable (redis)", 0, 1)]
    assert redis(console) == [("Rails.cache (redis_cache_store)", 1, 1)]  # one thread


def test_redis_everywhere_totals_and_status() -> None:
    result = check(APPS / "rails-redis-everywhere", options({"web": 2, "worker": 1}, pg=100, maxclients=60))
    # web 2 dynos x 2 x (1 + 1 + 1) = 12 .. 2 x 2 x (5 + 5 + 2) = 48; worker 12 .. 26; console 1 .. 1
    assert (result.redis.expected, result.redis.worst_case) == (25, 75)
    assert result.redis.status == "at-risk" and result.status == "at-risk"  # 75 > 60 only at worst
    # Postgres: web 2 x 2 x min(5, 5) = 20, worker min(10, pool 5) = 5, console 1
    assert (result.postgres.expected, result.postgres.worst_case) == (26, 26)
    assert result.missing == ()


def test_redis_everywhere_env_and_cache_pool_flag() -> None:
    web = of(read("rails-redis-everywhere", {"RAILS_MAX_THREADS": "8"}), "web")
    # 8 threads: the cache pool is 8 too (env, production.rb:7); the client min(8, 10); cable 2
    assert redis(web) == [("Rails.cache (redis_cache_store)", 1, 8), ("Sidekiq client", 1, 8),
                          ("ActionCable (redis)", 1, 2)]
    assert web.redis[0].worst.source.endswith("env RAILS_MAX_THREADS (config/environments/production.rb:7)")
    web = of(read("rails-redis-everywhere", flags={"web.cache_pool": 0}), "web")
    assert redis(web)[0] == ("Rails.cache (redis_cache_store)", 1, 1)  # no pool: one client
    assert "flag --set web.cache_pool" in web.redis[0].worst.source


# -- the cache store by Rails version --------------------------------------------------------------------------------

def _app(root: Path, rails: str, store: str) -> Path:
    return write(root, {"Procfile": "web: bundle exec puma\n",
                        "Gemfile.lock": f"GEM\n  specs:\n    rails ({rails})\n",
                        "config/database.yml": "production:\n  adapter: postgresql\n",
                        "config/environments/production.rb": f"Rails.application.configure do\n  {store}\nend\n"})


def test_cache_store_pools_by_rails_version(tmp_path: Path) -> None:
    cases = [
        # Rails 7.0.10: no pool unless pool_size (its size) or pool_timeout (connection_pool's size 5)
        ("7.0.8", 'config.cache_store = :redis_cache_store, { url: ENV["REDIS_URL"] }', 1),
        ("7.0.8", "config.cache_store = :redis_cache_store, { pool_size: 8 }", 5),  # min(5 threads, 8)
        ("7.0.8", "config.cache_store = :redis_cache_store, { pool_size: 3 }", 3),
        ("7.0.8", "config.cache_store = :redis_cache_store, { pool_timeout: 2 }", 5),
        # Rails 7.1+: pooled, 5, unless pool: false; pool: { size: N } merged over the default
        ("7.1.3", "config.cache_store = :redis_cache_store", 5),
        ("8.0.2", "config.cache_store = :redis_cache_store, { pool: false }", 1),
        ("8.0.2", "config.cache_store = :redis_cache_store, { url: 'x', pool: { size: 2 } }", 2),
        ("8.0.2", "config.cache_store = :redis_cache_store, { pool: { timeout: 1 } }", 5),
        ("8.0.2", "config.cache_store = :memory_store", None),
    ]
    for i, (rails, line, worst) in enumerate(cases):
        web = of(read(_app(tmp_path / str(i), rails, line)), "web")  # 5 threads: Puma's default
        found = [u.worst.value for u in web.redis if u.what.startswith("Rails.cache")]
        assert found == ([] if worst is None else [worst]), (rails, line)


def test_cache_store_given_its_redis(tmp_path: Path) -> None:
    # redis: X that is no Proc: build_redis returns X itself (redis_cache_store.rb); Rails >= 7.1 wraps no pool around a
    # ConnectionPool (``already_pool``), and a pool around one Redis instance still yields that one client
    cases = [
        ("8.0.2", 'config.cache_store = :redis_cache_store, { redis: Redis.new(url: ENV["REDIS_URL"]) }', 1),
        ("8.0.2", "config.cache_store = :redis_cache_store, { redis: Redis.new, pool: { size: 8 } }", 1),
        ("8.0.2", "config.cache_store = :redis_cache_store, { redis: ConnectionPool.new(size: 3) { Redis.new } }", 3),
        ("7.2.2", "config.cache_store = :redis_cache_store, redis: ConnectionPool.new { Redis.new }", 5),  # its 5
        # a Proc: the store builds its pool as usual (5 by default from 7.1, min(5 threads, 5))
        ("7.2.2", "config.cache_store = :redis_cache_store, { redis: -> { Redis.new } }", 5),
    ]
    for i, (rails, line, worst) in enumerate(cases):
        web = of(read(_app(tmp_path / str(i), rails, line)), "web")
        assert [u.worst.value for u in web.redis] == [worst], (rails, line)
        assert not web.redis[0].worst.missing
    # a constant: a client or a pool of its own size, not read: unknown, naming the line and the flag
    app = _app(tmp_path / "const", "8.0.2", "config.cache_store = :redis_cache_store, { redis: REDIS_POOL }")
    (use,) = of(read(app), "web").redis
    assert use.worst.missing == "--set web.cache_pool=N (0: no pool)"
    assert "config/environments/production.rb:2: redis: 'REDIS_POOL' is code" in use.worst.source
    assert check(app, options({"web": 1}, pg=100, maxclients=100)).status == "incomplete"


def test_cache_store_from_code_is_unknown_until_given(tmp_path: Path) -> None:
    app = _app(tmp_path, "7.2.2", "config.cache_store = :redis_cache_store, REDIS_CACHE_OPTIONS")
    (use,) = of(read(app), "web").redis
    assert use.worst.missing == "--set web.cache_pool=N (0: no pool)"
    assert "config/environments/production.rb:2" in use.worst.source
    result = check(app, options({"web": 1}, pg=100, maxclients=100))
    assert result.status == "incomplete"  # never "fits" on an unread pool
    assert any("web.redis Rails.cache" in m and "cache_pool" in m for m in result.missing)
    result = check(app, options({"web": 1}, pg=100, maxclients=100, flags={"web.cache_pool": 5}))
    assert (result.status, result.missing) == ("fits", ())


# -- rails8-solid-in-puma: Solid Queue in Puma, Solid Cache, Solid Cable, four databases, max_connections ----------

def test_rails8_solid_in_puma() -> None:
    config = read("rails8-solid-in-puma")
    assert config.problems == () and config.advice == ()
    web = of(config, "web")
    assert (web.processes.value, web.threads.value) == (1, 3)
    # Rails 8.1's max_connections: (database.yml:5, RAILS_MAX_THREADS unset: 3; the queue's own 10 on line 18);
    # every database used: Solid Cache (production.rb:7), Solid Queue (production.rb:10, the web enqueues), Solid
    # Cable (cable.yml:8)
    assert [(p.database, p.size.value, p.size.source) for p in web.pools] == [
        ("primary", 3, "config/database.yml:5 (RAILS_MAX_THREADS unset)"),
        ("cache", 3, "config/database.yml:5 (RAILS_MAX_THREADS unset)"),
        ("queue", 10, "config/database.yml:18"),
        ("cable", 3, "config/database.yml:5 (RAILS_MAX_THREADS unset)")]
    assert web.redis == ()
    (tree,) = web.beside  # SOLID_QUEUE_IN_PUMA=1 on the Procfile line runs puma.rb:10's plugin
    # queue: supervisor 2 + dispatcher 3 + scheduler 1 (recurring.yml has a scheduled task) + 1 worker x min(3 + 2,
    # 10) = 11; the worker's jobs on primary, cache and cable: 1 x min(3, 3) = 3 each, 3 at worst
    assert [(p.database, p.kind, p.size.value, p.overflow.value if p.overflow else None) for p in tree.pools] == [
        ("primary", "held", 3, 0), ("cache", "held", 3, 0), ("queue", "held", 11, 0), ("cable", "held", 3, 0)]
    result = check(APPS / "rails8-solid-in-puma", options({"web": 2}, pg=100))
    # per web dyno: Puma 3 + 3 + 3 + 3 = 12 (worst 3 + 3 + 10 + 3 = 19), the tree 20: 2 x 12 + 2 x 20 = 64, worst
    # 2 x 19 + 2 x 20 = 78; release apart
    assert (result.postgres.expected, result.postgres.worst_case) == (64, 78)
    assert [t.name for t in result.postgres.types] == ["web", "web/solid_queue"]
    assert result.status == "fits" and result.missing == ()


def test_shared_rails_max_threads_below_threads_plus_two(tmp_path: Path) -> None:
    # the queue database with no max_connections of its own: RAILS_MAX_THREADS=3 sizes it 3 < 3 threads + 2
    source = APPS / "rails8-solid-in-puma"
    app = tmp_path / "app"
    for path in source.rglob("*"):
        if path.is_file():
            target = app / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text().replace("    max_connections: 10\n", ""))
    config = read(app)
    (tree,) = of(config, "web").beside
    # queue pool 3: 2 + 3 + 1 + min(5, 3) = 9
    assert [(p.database, p.size.value) for p in tree.pools if p.database == "queue"] == [("queue", 9)]
    assert len(config.advice) == 1
    assert config.advice[0].startswith("web (Solid Queue, queue): pool 3 (config/database.yml:5 (RAILS_MAX_THREADS "
                                       "unset)) < 3 worker threads + 2 (polling, heartbeat) = 5")


# -- rails-resque-pool: resque-pool from the processor count, resque:workers, FORK_PER_JOB=false --------------------

def test_resque_pool_is_incomplete_until_given() -> None:
    config = read("rails-resque-pool")
    workers, mail, web = of(config, "workers"), of(config, "mail"), of(config, "web")
    assert (workers.role, workers.server, mail.server) == ("worker", "resque_pool", "resque")
    # resque-pool.yml:2: (Concurrent.processor_count * 0.5).ceil: the build machine's, not the dyno's
    assert workers.processes.missing == "--set workers.processes=N"
    assert "config/resque-pool.yml:2" in workers.processes.source
    # FORK_PER_JOB=false: 1 connection per worker; Rails 8's default cache pool 5 at 1 thread: 1; broadcasts 0 .. 1
    assert redis(workers) == [("Resque worker", 1, 1), ("Rails.cache (redis_cache_store)", 1, 1),
                              ("ActionCable (redis)", 0, 1)]
    # COUNT=2 rake resque:workers: 2 processes, each 2 (its BLPOP + the job's child)
    assert (mail.processes.value, mail.threads.value) == (2, 1)
    assert redis(mail)[0] == ("Resque worker", 2, 2)
    assert redis(web) == [("Rails.cache (redis_cache_store)", 1, 5), ("ActionCable (redis)", 1, 2)]
    formation = {"web": 1, "workers": 1, "mail": 1}
    result = check(APPS / "rails-resque-pool", options(formation, pg=100, maxclients=100))
    assert result.status == "incomplete"
    assert "workers.processes (--set workers.processes=N)" in result.missing
    result = check(APPS / "rails-resque-pool", options(formation, pg=100, maxclients=100,
                                                       flags={"workers.processes": 3}))
    # Redis: web 2 x (1 + 1) .. 2 x (5 + 2); workers 3 x (1 + 1 + 0) .. 3 x 3; mail 2 x (2 + 1 + 0) .. 2 x 4
    assert (result.redis.expected, result.redis.worst_case) == (16, 31)
    # Postgres: web 2 x min(5, 5) = 10; workers 3 x min(1, 5) = 3 (worst 15); mail 2 x 1 (worst 10)
    assert (result.postgres.expected, result.postgres.worst_case) == (15, 35)
    assert (result.status, result.missing) == ("fits", ())


# -- rails-delayed-job: rake jobs:work, bin/delayed_job -n 3; Rails 6.1's unpooled cache ----------------------------

def test_delayed_job_workers_and_unpooled_cache() -> None:
    config = read("rails-delayed-job")
    assert config.problems == ()
    jobs, batch, web = of(config, "jobs"), of(config, "batch"), of(config, "web")
    assert [(t.role, t.server, t.processes.value, t.threads.value) for t in (jobs, batch)] == [
        ("worker", "delayed_job", 1, 1), ("worker", "delayed_job", 3, 1)]
    assert batch.processes.source == "Procfile batch: -n 3"
    # Rails 6.1 without pool_size: one Redis client per process
    for process in (web, jobs, batch):
        assert redis(process) == [("Rails.cache (redis_cache_store)", 1, 1)]
    assert "Rails 6.1" in web.redis[0].worst.source
    result = check(APPS / "rails-delayed-job", options({"web": 2, "jobs": 1, "batch": 1}, pg=30, maxclients=20))
    # Postgres: web 2 x 4 x min(1, 5) = 8 (worst 40), jobs 1 (5), batch 3 (15); Redis 8 + 1 + 3 = 12
    assert (result.postgres.expected, result.postgres.worst_case) == (12, 60)
    assert (result.redis.expected, result.redis.worst_case) == (12, 12)
    assert result.status == "at-risk"


def test_no_fixture_fits_while_a_figure_is_unknown() -> None:
    for app in sorted(p for p in APPS.iterdir() if (p / "config").is_dir() and (p / "Procfile").is_file()):
        if not (app / "config" / "database.yml").is_file() and not (app / "Gemfile").is_file():
            continue
        config = read(app)
        formation = {t.name: 1 for t in config.process_types}
        result = check(app, options(formation, pg=10_000, maxclients=10_000))
        if result.missing:
            assert result.status == "incomplete", app.name


# -- ActionCable's adapter written as ERB ----------------------------------------------------------------------------

def _cable_app(root: Path, adapter: str) -> Path:
    return write(root, {"Procfile": "web: bundle exec puma\nworker: bin/jobs\n",
                        "Gemfile.lock": "GEM\n  specs:\n    rails (8.0.2)\n    solid_queue (1.1.5)\n",
                        "config/database.yml": "production:\n  adapter: postgresql\n",
                        "config/cable.yml": f"production:\n  adapter: {adapter}\n  url: redis://localhost:6379/1\n"})


def test_cable_adapter_from_env_in_erb(tmp_path: Path) -> None:
    app = _cable_app(tmp_path, '<%= ENV.fetch("CABLE_ADAPTER") { "redis" } %>')
    config = read(app)
    web, worker = of(config, "web"), of(config, "worker")
    # CABLE_ADAPTER unset: the block's "redis" (cable.yml:2): the web 1 .. 2; bin/jobs' one worker process of the
    # default tree (no queue.yml: 1 process x 3 threads) broadcasts: 0 .. 1
    assert redis(web) == [("ActionCable (redis)", 1, 2)]
    assert web.redis[0].worst.source.endswith("config/cable.yml:2 (CABLE_ADAPTER unset)")
    assert redis(worker) == [("ActionCable (redis)", 0, 1)]
    # given solid_cable: no Redis at all
    config = read(app, {"CABLE_ADAPTER": "solid_cable"})
    assert (of(config, "web").redis, of(config, "worker").redis) == ((), ())


def test_cable_adapter_from_code_is_unknown_until_given(tmp_path: Path) -> None:
    app = _cable_app(tmp_path, "<%= Rails.application.credentials.cable_adapter %>")
    web = of(read(app), "web")
    (use,) = web.redis
    assert (use.what, use.expected.value) == ("ActionCable (not read)", 0)
    assert use.worst.missing == "--set web.cable_redis=N (0: not redis)"
    assert "config/cable.yml:2: 'Rails.application.credentials.cable_adapter' is code" in use.worst.source
    formation = {"web": 2, "worker": 1}
    result = check(app, options(formation, pg=100, maxclients=100))
    assert result.status == "incomplete"  # never "fits" on an adapter not read
    assert "web.redis ActionCable (not read) (--set web.cable_redis=N (0: not redis))" in result.missing
    # both types given: 2 per web process (listener + broadcasts), 0 for the jobs: 2 dynos x 1 process x 2 = 4
    flags = {"web.cable_redis": 2, "worker.cable_redis": 0}
    result = check(app, options(formation, pg=100, maxclients=100, flags=flags))
    assert (result.status, result.missing) == ("fits", ())
    assert (result.redis.expected, result.redis.worst_case) == (4, 4)

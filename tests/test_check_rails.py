"""connlab check's Rails reader against the fixture apps, every figure and its source worked out by hand from the files.

Line numbers are the fixtures' (tests/fixtures/apps/*); the env given is what ``--env`` would give (RAILS_ENV
defaults to production).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from harness.check import rails_files
from harness.cli import ExitCode, main
from tests.helpers_check import APPS, of, pools, read, write

# -- rails72-sidekiq -------------------------------------------------------------------------------------------------

def test_rails72_sidekiq_as_shipped() -> None:
    config = read("rails72-sidekiq")
    assert config.framework == "rails"
    assert config.versions == {"rails": "7.2.2", "puma": "6.6.0", "sidekiq": "7.3.2"}
    assert config.problems == ()
    assert [(t.name, t.role, t.server) for t in config.process_types] == [
        ("web", "web", "puma"), ("worker", "worker", "sidekiq"), ("release", "release", "rake")]
    web = of(config, "web")
    # web: workers ENV.fetch("WEB_CONCURRENCY", 2) on line 18 (unset: 2) x threads_count =
    # ENV.fetch("RAILS_MAX_THREADS", 3) on line 14 (unset: 3); preload_app! on line 19
    assert web.processes.value == 2
    assert web.processes.source == "config/puma.rb:18 (WEB_CONCURRENCY unset); preload_app! (config/puma.rb:19)"
    assert (web.threads.value, web.threads.source) == (3, "config/puma.rb:14 (RAILS_MAX_THREADS unset)")
    # pool: <%= ENV.fetch("RAILS_MAX_THREADS") { 5 } %> on database.yml:7, merged into production by <<: *default
    assert pools(web) == [("primary", 5, "config/database.yml:7 (RAILS_MAX_THREADS unset)", "")]
    # the web enqueues through Sidekiq 7's internal pool of 10: 1 expected, min(3 threads, 10) = 3 at worst
    assert [(u.what, u.expected.value, u.worst.value) for u in web.redis] == [("Sidekiq client", 1, 3)]
    worker = of(config, "worker")
    # sidekiq.yml:2 concurrency 10; Sidekiq 7.3.2: Redis C + 1 = 11 expected, C + 10 = 20 at worst
    assert (worker.processes.value, worker.threads.value, worker.threads.source) == (1, 10, "config/sidekiq.yml:2")
    assert pools(worker) == pools(web)
    assert [(u.what, u.expected.value, u.worst.value) for u in worker.redis] == [("Sidekiq server", 11, 20)]
    assert "Sidekiq 7" in worker.redis[0].worst.source
    release = of(config, "release")
    # bin/rails db:migrate: 1 thread, its connection + the advisory lock's own connection on the primary
    assert (release.processes.value, release.threads.value) == (1, 2)
    assert [p.size.value for p in release.pools] == [2]
    assert "advisory lock" in release.pools[0].size.source


def test_rails72_env_changes_threads_workers_and_pool() -> None:
    env = {"RAILS_MAX_THREADS": "5", "WEB_CONCURRENCY": "3"}
    config = read("rails72-sidekiq", env)
    web = of(config, "web")
    # 3 workers x 5 threads, pool 5: all three from the env, read on their lines
    assert (web.processes.value, web.processes.source.split(";")[0]) == (3, "env WEB_CONCURRENCY (config/puma.rb:18)")
    assert (web.threads.value, web.threads.source) == (5, "env RAILS_MAX_THREADS (config/puma.rb:14)")
    assert pools(web) == [("primary", 5, "env RAILS_MAX_THREADS (config/database.yml:7)", "")]
    # Sidekiq reads RAILS_MAX_THREADS only when no concurrency is set: sidekiq.yml's 10 stays
    assert of(config, "worker").threads.value == 10


def test_database_url_merges_into_primary_as_rails_does() -> None:
    # DATABASE_URL's ?pool=8 overrides database.yml's pool (url components win), its host is the primary's server
    env = {"DATABASE_URL": "postgres://shop:secret@db.example.com:5432/shop?pool=8"}
    web = of(read("rails72-sidekiq", env), "web")
    assert pools(web) == [("primary", 8, "env DATABASE_URL (pool=8)", "")]


def test_flags_win_over_files_and_env() -> None:
    env = {"RAILS_MAX_THREADS": "5"}
    config = read("rails72-sidekiq", env, {"web.threads": 8, "web.processes": 4, "web.pool": 8, "worker.threads": 20})
    web, worker = of(config, "web"), of(config, "worker")
    assert (web.processes.value, web.processes.source) == (4, "flag --set web.processes")
    assert (web.threads.value, web.threads.source) == (8, "flag --set web.threads")
    assert pools(web) == [("primary", 8, "flag --set web.pool", "")]
    # the worker's concurrency from the flag, and its Redis with it: 21 .. 30 (Sidekiq 7)
    assert (worker.threads.value, worker.threads.source) == (20, "flag --set worker.threads")
    assert [(u.expected.value, u.worst.value) for u in worker.redis] == [(21, 30)]
    assert pools(worker) == [("primary", 5, "env RAILS_MAX_THREADS (config/database.yml:7)", "")]
    assert config.problems == ()


def test_unknown_flags_are_problem_lines() -> None:
    config = read("rails72-sidekiq", flags={"wrker.threads": 3, "web.foo": 1})
    assert [p.line() for p in config.problems] == [
        "--set wrker.threads: no process type 'wrker' in the Procfile (has web, worker, release); "
        "--set TYPE.processes|threads|pool|cache_pool|cable_redis=N",
        "--set web.foo: 'foo' is not one of processes, threads, pool, cache_pool, cable_redis; "
        "--set TYPE.processes|threads|pool|cache_pool|cable_redis=N"]


# -- rails8-multidb --------------------------------------------------------------------------------------------------

def test_rails8_multidb_as_shipped() -> None:
    config = read("rails8-multidb")
    assert config.versions == {"rails": "8.0.2", "puma": "6.6.0", "solid_queue": "1.1.5"}
    assert config.problems == ()
    web = of(config, "web")
    assert (web.role, web.server) == ("web", "puma")  # ./bin/thrust ./bin/rails server
    # puma.rb sets no workers and WEB_CONCURRENCY is unset: single mode (Puma 6.6.0 from Gemfile.lock), 1 process x
    # 3 threads (line 14)
    assert (web.processes.value, web.processes.source) == (1, "default (Puma 6.6.0: 0 workers = 1 process)")
    assert (web.threads.value, web.threads.source) == (3, "config/puma.rb:14 (RAILS_MAX_THREADS unset)")
    # four databases in database.yml, but a database counts where the process uses it: no production.rb sets
    # cache_store, queue_adapter, and there is no cable.yml, so the web holds its primary only (pool 5, line 7,
    # inherited through <<: *primary_production and <<: *default)
    assert pools(web) == [("primary", 5, "config/database.yml:7 (RAILS_MAX_THREADS unset); not used by web, not "
                                         "counted: cache, queue, cable", "")]
    jobs = of(config, "jobs")
    # bin/jobs: one Solid Queue supervisor tree per dyno (queue.yml: 1 dispatcher, line 2; a worker of 3 threads,
    # line 7, x JOB_CONCURRENCY unset -> 1 process, line 8; no recurring.yml: no scheduler)
    assert (jobs.role, jobs.server) == ("worker", "solid_queue")
    assert jobs.processes.value == 1
    assert jobs.processes.source == ("Solid Queue: 1 supervisor tree per dyno: 1 supervisor + 1 dispatcher(s) + 1 "
                                     "worker process(es) x 3 threads (config/queue.yml:8 (JOB_CONCURRENCY unset); "
                                     "config/queue.yml:7)")
    assert (jobs.threads.value, jobs.threads.source) == (3, "config/queue.yml:7")
    # queue database (pool 5): supervisor 2 + dispatcher 3 + worker min(3 + 2, 5) = 10, held; the primary: the
    # worker's jobs 1 x min(3, 5) = 3, 5 at worst (overflow 2); cache and cable unused
    assert [(p.database, p.kind, p.size.value, p.overflow.value if p.overflow else None) for p in jobs.pools] == [
        ("primary", "held", 3, 2), ("queue", "held", 10, 0)]
    assert jobs.redis == ()
    release = of(config, "release")  # ./bin/rails db:prepare: 2 on the primary, 1 on each other database
    assert [(p.database, p.size.value) for p in release.pools] == [("primary", 2), ("cache", 1), ("queue", 1),
                                                                    ("cable", 1)]


def test_rails8_env_workers_from_puma_itself_and_solid_queue_in_puma() -> None:
    env = {"WEB_CONCURRENCY": "2", "JOB_CONCURRENCY": "3", "RAILS_MAX_THREADS": "4", "SOLID_QUEUE_IN_PUMA": "1",
           "DATABASE_HOST": "pg.example.com"}
    config = read("rails8-multidb", env)
    web = of(config, "web")
    # 2 processes from Puma's own WEB_CONCURRENCY default; the plugin line (24) runs only with SOLID_QUEUE_IN_PUMA
    assert web.processes.value == 2
    assert web.processes.source == ("env WEB_CONCURRENCY; plugin :solid_queue (config/puma.rb:24): Solid Queue's "
                                    "processes run beside Puma, once per dyno: counted as web/solid_queue")
    assert (web.threads.value, web.threads.source) == (4, "env RAILS_MAX_THREADS (config/puma.rb:14)")
    # the web uses its primary only (moved to DATABASE_HOST, the server the limit describes)
    assert [(p.database, p.size.value, p.server) for p in web.pools] == [("primary", 4, "")]
    # the plugin's tree, once per web dyno: 3 worker processes (JOB_CONCURRENCY=3, queue.yml:8) x 3 threads; queue
    # pool 4 (RAILS_MAX_THREADS): supervisor 2 + dispatcher 3 + 3 x min(3 + 2, 4) = 17; jobs 3 x min(3, 4) = 9 .. 12
    (tree,) = web.beside
    assert (tree.name, tree.processes.value, tree.threads.value) == ("web/solid_queue", 1, 3)
    assert "per web dyno (plugin :solid_queue, config/puma.rb:24" in tree.processes.source
    assert "env JOB_CONCURRENCY (config/queue.yml:8)" in tree.processes.source
    assert [(p.database, p.size.value, p.overflow.value if p.overflow else None) for p in tree.pools] == [
        ("primary", 9, 3), ("queue", 17, 0)]
    jobs = of(config, "jobs")  # the same tree from bin/jobs
    assert [(p.database, p.size.value) for p in jobs.pools] == [("primary", 9), ("queue", 17)]
    assert "env JOB_CONCURRENCY (config/queue.yml:8)" in jobs.processes.source
    # one RAILS_MAX_THREADS (4) sizes the queue pool below a worker's 3 threads + 2
    assert [a.split(":")[0] for a in config.advice] == ["web (Solid Queue, queue)", "jobs (Solid Queue, queue)"]
    assert "pool 4 (env RAILS_MAX_THREADS (config/database.yml:7)) < 3 worker threads + 2" in config.advice[0]


def test_named_database_url_and_other_adapters(tmp_path: Path) -> None:
    app = write(tmp_path, {
        "Procfile": "web: bundle exec puma\n",
        # the cache database counts where the app caches in it (Solid Cache)
        "config/environments/production.rb": "Rails.application.configure do\n"
                                             "  config.cache_store = :solid_cache_store\nend\n",
        "config/database.yml": "production:\n  primary:\n    adapter: postgresql\n    pool: 7\n"
                               "  cache:\n    adapter: postgresql\n"
                               "  errors:\n    adapter: sqlite3\n    database: storage/errors.sqlite3\n"})
    env = {"CACHE_DATABASE_URL": "postgresql://cache.example.com:6432/cache?pool=3"}
    web = of(read(app, env), "web")
    # primary pool 7 (line 4), cache from CACHE_DATABASE_URL on its own server, sqlite3 noted, not counted
    assert pools(web) == [
        ("primary", 7, "config/database.yml:4; not Postgres, not counted: errors (sqlite3)", ""),
        ("cache", 3, "env CACHE_DATABASE_URL (pool=3)", "cache.example.com:6432")]
    # no puma.rb: Puma's defaults
    assert (web.processes.value, web.threads.value) == (1, 5)
    assert web.threads.source == "default (Puma: 5 threads)"


def test_pool_absent_is_rails_default(tmp_path: Path) -> None:
    app = write(tmp_path, {"Procfile": "web: bin/rails server\n",
                           "config/database.yml": "production:\n  adapter: postgresql\n  database: x\n"})
    assert pools(of(read(app), "web")) == [("primary", 5, "default (Rails: 5)", "")]


# -- rails-broken ----------------------------------------------------------------------------------------------------

def test_rails_broken_gives_problem_lines_not_exceptions() -> None:
    config = read("rails-broken")
    assert [p.line() for p in config.problems] == [
        "config/database.yml:9: NoMethodError: undefined method `application' for Rails:Module; "
        "--set web.pool=N, worker.pool=N",
        'config/puma.rb:3: ENV.fetch("RAILS_MAX_THREADS") raised KeyError: RAILS_MAX_THREADS is not set; '
        "--env RAILS_MAX_THREADS=... or --set web.threads=N"]
    assert config.versions == {}  # no Gemfile.lock
    web = of(config, "web")
    # database.yml raised: the pool is unknown (counted at its least, 1), never no pool
    assert [(p.database, p.size.value, p.size.source, p.size.missing) for p in web.pools] == [
        ("primary", 1, "unknown: config/database.yml:9 raised NoMethodError", "--set web.pool=N")]
    # puma.rb stopped at line 3, before its threads and workers calls: both unknown, at their least
    assert (web.processes.value, web.threads.value) == (1, 1)
    assert (web.threads.source, web.threads.missing) == (
        "unknown: config/puma.rb stopped at line 3, before any threads call", "--set web.threads=N")
    assert web.processes.missing == "--env WEB_CONCURRENCY=N or --set web.processes=N"
    worker = of(config, "worker")
    # sidekiq.yml: the production section's :concurrency: (line 7, SIDEKIQ_CONCURRENCY unset: 8) over the top
    # level's 5; no Gemfile.lock: Sidekiq 6 assumed, Redis 8 + 1 .. 8 + 5
    assert (worker.threads.value, worker.threads.source) == (8, "config/sidekiq.yml:7 (SIDEKIQ_CONCURRENCY unset)")
    assert [(u.expected.value, u.worst.value) for u in worker.redis] == [(9, 13)]
    assert "assumed" in worker.redis[0].worst.source
    clock, console = of(config, "clock"), of(config, "console")
    assert (clock.role, clock.server, console.role, console.server) == ("oneoff", "unknown", "oneoff", "rails")
    assert clock.threads.source == ("unknown process type clock (bundle exec clockwork config/clock.rb): counted as "
                                    "a one-off: 1 thread")
    assert (console.processes.value, console.threads.value) == (1, 1)


def test_rails_broken_with_env_and_flags() -> None:
    # the variable given: puma.rb runs to its end (2 workers, line 6; 4 threads, line 3); the pool by flag
    config = read("rails-broken", {"RAILS_MAX_THREADS": "4"}, {"web.pool": 4, "worker.pool": 8})
    assert [p.path for p in config.problems] == ["config/database.yml:9"]
    web = of(config, "web")
    assert (web.processes.value, web.threads.value, web.threads.source) == (
        2, 4, "env RAILS_MAX_THREADS (config/puma.rb:3)")
    assert pools(web) == [("primary", 4, "flag --set web.pool", "")]
    assert pools(of(config, "worker")) == [("primary", 8, "flag --set worker.pool", "")]


# -- more of Puma, Sidekiq, the Procfile -----------------------------------------------------------------------------

RAILS71_PUMA = """\
max_threads_count = ENV.fetch("RAILS_MAX_THREADS") { 5 }
min_threads_count = ENV.fetch("RAILS_MIN_THREADS") { max_threads_count }
threads min_threads_count, max_threads_count

if ENV["RAILS_ENV"] == "production"
  require "concurrent-ruby"
  workers Integer(ENV.fetch("WEB_CONCURRENCY") { Concurrent.physical_processor_count })
end
before_worker_boot { }
puts "the app's own output"
"""


def test_rails71_puma_attributes_max_threads_and_the_processor_count(tmp_path: Path) -> None:
    app = write(tmp_path, {"config/puma.rb": RAILS71_PUMA,
                           "config/database.yml": "production:\n  adapter: postgresql\n"})
    config = read(app)
    web = of(config, "web")  # no Procfile: assumed
    assert web.command == "bundle exec puma -C config/puma.rb"
    assert web.processes.source.endswith("; web assumed (no launcher found)")
    # max threads from line 1's default, not RAILS_MIN_THREADS (line 2) whose default is the same 5
    assert (web.threads.value, web.threads.source) == (5, "config/puma.rb:1 (RAILS_MAX_THREADS unset)")
    # workers from this machine's processor count: not the dyno's, unknown (before_worker_boot ignored)
    assert web.processes.source.startswith("unknown: config/puma.rb:7 (this machine's processor count: ")
    assert (web.processes.value, web.processes.missing) == (1, "--env WEB_CONCURRENCY=N or --set web.processes=N")
    # no Procfile, foreman, Kamal, compose nor Dockerfile: the assumed web is one note naming where connlab looked
    assert [p.path for p in config.problems] == ["Procfile", "config/puma.rb:7"]
    assert config.problems[0].what.startswith("no launcher found (looked at: Procfile; a Procfile.* named by")
    assert config.problems[0].fix.startswith("assumed `web: bundle exec puma -C config/puma.rb` (Rails' own server)")
    config = read(app, {"RAILS_MAX_THREADS": "3", "RAILS_MIN_THREADS": "3", "WEB_CONCURRENCY": "2"})
    web = of(config, "web")
    assert web.threads.source == "env RAILS_MAX_THREADS (config/puma.rb:1)"
    assert web.processes.source.startswith("env WEB_CONCURRENCY (config/puma.rb:7)")
    assert [p.path for p in config.problems] == ["Procfile"]


def test_procfile_options_and_inline_env(tmp_path: Path) -> None:
    app = write(tmp_path, {
        "Procfile": "web: RAILS_MAX_THREADS=8 bundle exec puma -w 3 -C config/puma.rb\n"
                    "worker: bundle exec sidekiq -c 4 -q default\n",
        "config/puma.rb": 'n = ENV.fetch("RAILS_MAX_THREADS", 3)\nthreads n, n\nworkers 2\n',
        "config/database.yml": 'production:\n  adapter: postgresql\n  pool: <%= ENV.fetch("RAILS_MAX_THREADS", 5) %>\n',
        "Gemfile.lock": "GEM\n  specs:\n    sidekiq (6.5.12)\n"})
    config = read(app)
    web, worker = of(config, "web"), of(config, "worker")
    # -w 3 on the command line wins over workers 2 (line 3); RAILS_MAX_THREADS=8 before the command: threads 8 and
    # pool 8 for web only
    assert (web.processes.value, web.processes.source) == (3, "Procfile web: -w 3")
    assert web.threads.source == "Procfile web: RAILS_MAX_THREADS=8 (config/puma.rb:1)"
    assert pools(web) == [("primary", 8, "Procfile web: RAILS_MAX_THREADS=8 (config/database.yml:3)", "")]
    # -c 4 (Sidekiq 6.5: Redis 5 .. 9); its pool 5 from line 3's default
    assert (worker.threads.value, worker.threads.source) == (4, "Procfile worker: -c 4")
    assert [(u.expected.value, u.worst.value) for u in worker.redis] == [(5, 9)]
    assert pools(worker) == [("primary", 5, "config/database.yml:3 (RAILS_MAX_THREADS unset)", "")]


def test_sidekiq7_capsules_and_defaults(tmp_path: Path) -> None:
    lock = "GEM\n  specs:\n    sidekiq (7.3.2)\n"
    app = write(tmp_path / "capsules", {
        "Procfile": "worker: bundle exec sidekiq\n", "Gemfile.lock": lock,
        "config/database.yml": "production:\n  adapter: postgresql\n",
        "config/sidekiq.yml": ":concurrency: 6\n:capsules:\n  :single:\n    :concurrency: 1\n"
                              "    :queues: [serial]\n  bulk:\n    concurrency: 3\n"})
    worker = of(read(app), "worker")
    # 6 (line 1) + capsule single 1 (line 4) + capsule bulk 3 (line 7) = 10 threads; Redis 11 .. 20
    assert worker.threads.value == 10
    assert worker.threads.source == ("6 (config/sidekiq.yml:1) + capsule single 1 (config/sidekiq.yml:4) + "
                                     "capsule bulk 3 (config/sidekiq.yml:7) = 10")
    assert [(u.expected.value, u.worst.value) for u in worker.redis] == [(11, 20)]
    bare = write(tmp_path / "bare", {"Procfile": "worker: bundle exec sidekiq\n", "Gemfile.lock": lock})
    worker = of(read(bare), "worker")  # no sidekiq.yml: Sidekiq 7's default 5, or RAILS_MAX_THREADS
    assert (worker.threads.value, worker.threads.source) == (5, "default (Sidekiq 7: 5)")
    worker = of(read(bare, {"RAILS_MAX_THREADS": "7"}), "worker")
    assert (worker.threads.value, worker.threads.source.split(" (")[0]) == (7, "env RAILS_MAX_THREADS")


def test_missing_files_and_sections(tmp_path: Path) -> None:
    app = write(tmp_path, {"Procfile": "web: bundle exec puma\n"})
    assert [p.line() for p in read(app).problems] == [
        "config/database.yml: not found, and no DATABASE_URL; --env DATABASE_URL=postgres://... or --set web.pool=N"]
    assert of(read(app), "web").pools[0].size.missing == "--env DATABASE_URL=postgres://... or --set web.pool=N"
    write(tmp_path, {"config/database.yml": "development:\n  adapter: postgresql\n"})
    assert [p.line() for p in read(app).problems] == [
        "config/database.yml: no production environment (has development) and no DATABASE_URL; "
        "--env DATABASE_URL=postgres://..., --env RAILS_ENV=... or --set web.pool=N"]
    assert of(read(app, {"RAILS_ENV": "development"}), "web").pools[0].size.value == 5


def test_a_config_file_named_on_the_command_line_that_is_not_there(tmp_path: Path) -> None:
    app = write(tmp_path, {"Procfile": "web: bundle exec puma -C config/puma/heroku.rb\n",
                           "config/database.yml": "production:\n  adapter: postgresql\n"})
    assert [p.line() for p in read(app).problems] == [
        "Procfile:1: web: -C config/puma/heroku.rb: no such file in the app; --set web.threads=N and "
        "--set web.processes=N"]


def test_ruby_that_hangs_or_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = write(tmp_path, {"Procfile": "web: bundle exec puma\n",
                           "config/database.yml": "production:\n  adapter: postgresql\n  pool: <%= sleep 5 %>\n"})
    monkeypatch.setattr(rails_files, "JOB_TIMEOUT_S", 0.3)
    assert [p.line() for p in read(app).problems] == [
        "config/database.yml: Timeout: did not finish within 0.3 s; --set web.pool=N"]
    monkeypatch.setattr("harness.check.rails_files.shutil.which", lambda name: None)
    problems = read(app).problems
    assert [(p.path, p.what) for p in problems] == [("config/database.yml", "not read: no ruby on PATH")]


@pytest.mark.parametrize("name", ["rails72-sidekiq", "rails8-multidb", "rails-broken"])
def test_a_read_takes_well_under_a_second(name: str) -> None:
    read(name)  # warm the page cache
    started = time.perf_counter()
    read(name)
    assert time.perf_counter() - started < 0.8


# -- rails-unicorn ---------------------------------------------------------------------------------------------------

def test_rails_unicorn_as_shipped_and_with_env() -> None:
    config = read("rails-unicorn")
    assert config.versions == {"rails": "6.1.7.10"}
    assert config.problems == ()
    web = of(config, "web")
    # Procfile: unicorn -p $PORT -c ./config/unicorn.rb; worker_processes Integer(ENV["WEB_CONCURRENCY"] || 3) on
    # line 2 (unset: 3), preload_app true on line 4; Unicorn has no threads
    assert (web.role, web.server) == ("web", "unicorn")
    assert (web.processes.value, web.processes.source) == (
        3, "config/unicorn.rb:2 (WEB_CONCURRENCY unset); preload_app true (config/unicorn.rb:4)")
    assert (web.threads.value, web.threads.source) == (1, "unicorn: 1 thread per process")
    # RAILS_MAX_THREADS, a Puma setting nobody sets here: every one-thread worker gets the default pool of 5
    assert pools(web) == [("primary", 5, "config/database.yml:6 (RAILS_MAX_THREADS unset)", "")]
    web = of(read("rails-unicorn", {"WEB_CONCURRENCY": "4", "RAILS_MAX_THREADS": "1"}), "web")
    assert (web.processes.value, web.processes.source.split(";")[0]) == (4, "env WEB_CONCURRENCY (config/unicorn.rb:2)")
    assert pools(web) == [("primary", 1, "env RAILS_MAX_THREADS (config/database.yml:6)", "")]
    # Integer("four") raises in the file as it would in Unicorn: one problem line, Unicorn's default 1
    config = read("rails-unicorn", {"WEB_CONCURRENCY": "four"})
    assert [p.line() for p in config.problems] == [
        'config/unicorn.rb:2: ArgumentError: invalid value for Integer(): "four"; --set web.processes=N']
    assert of(config, "web").processes.value == 1


def test_unicorn_without_c_reads_no_file_and_checks_worker_processes_as_unicorn_does(tmp_path: Path) -> None:
    database = {"config/database.yml": "production:\n  adapter: postgresql\n  pool: 2\n"}
    bare = write(tmp_path / "bare", {"Procfile": "web: bundle exec unicorn -p $PORT\n",
                                     "config/unicorn.rb": "worker_processes 8\n", **database})
    web = of(read(bare), "web")  # unicorn without -c reads no config file, whatever config/ holds
    assert (web.processes.value, web.threads.value) == (1, 1)
    assert web.processes.source.startswith("default (Unicorn: 1 worker process; web runs unicorn without -c")
    strict = write(tmp_path / "strict", {
        "Procfile": "web: unicorn_rails --config-file config/unicorn.rb -E production\n",
        "config/unicorn.rb": 'worker_processes ENV.fetch("WEB_CONCURRENCY", "2")\n'
                             "listen 8080\nafter_fork { |s, w| raise 'not run' }\n", **database})
    config = read(strict)  # Unicorn's set_int takes an Integer only: "2" from ENV is an error there too
    assert [p.line() for p in config.problems] == [
        'config/unicorn.rb:1: ArgumentError: not an integer: worker_processes="2"; --set web.processes=N']
    missing = write(tmp_path / "missing", {"Procfile": "web: unicorn -c config/unicorn/heroku.rb\n", **database})
    assert [p.line() for p in read(missing).problems] == [
        "Procfile:1: web: -c config/unicorn/heroku.rb: no such file in the app; --set web.processes=N"]
    flagged = of(read(missing, flags={"web.processes": 6}), "web")
    assert (flagged.processes.value, flagged.processes.source) == (6, "flag --set web.processes")


# -- a config file that raises: its figures are unknown, never the library's defaults --------------------------------
def _broken_copy(tmp_path: Path, name: str, rel: str, text: str) -> Path:
    app = tmp_path / name
    shutil.copytree(APPS / name, app)
    return write(app, {rel: text})


def test_a_sidekiq_yml_that_raises_leaves_the_concurrency_unknown(tmp_path: Path) -> None:
    app = _broken_copy(tmp_path, "rails72-sidekiq", "config/sidekiq.yml",
                       "concurrency: <%= ENV.fetch('SIDEKIQ_THREADS') %>\n")
    threads = of(read(app), "worker").threads
    assert threads.missing == "--set worker.threads=N"
    assert threads.source == "unknown: config/sidekiq.yml:1 raised KeyError: concurrency not read"
    # the flag supplies it
    assert of(read(app, flags={"worker.threads": 12}), "worker").threads.value == 12


def test_a_unicorn_rb_that_raises_before_worker_processes_leaves_them_unknown(tmp_path: Path) -> None:
    app = _broken_copy(tmp_path, "rails-unicorn", "config/unicorn.rb",
                       'timeout Integer(ENV.fetch("UNICORN_TIMEOUT"))\nworker_processes 3\n')
    processes = of(read(app), "web").processes
    assert processes.missing == "--set web.processes=N"
    assert processes.source == "unknown: config/unicorn.rb stopped at line 1, before any worker_processes call"
    # a worker_processes before the line that raises was read
    app = _broken_copy(tmp_path / "2", "rails-unicorn", "config/unicorn.rb",
                       'worker_processes 3\ntimeout Integer(ENV.fetch("UNICORN_TIMEOUT"))\n')
    assert of(read(app), "web").processes.value == 3 and not of(read(app), "web").processes.missing


def test_a_queue_yml_that_raises_leaves_the_solid_queue_tree_unknown(tmp_path: Path) -> None:
    app = _broken_copy(tmp_path, "rails8-multidb", "config/queue.yml",
                       "production:\n  workers:\n    - threads: <%= ENV.fetch('JOB_THREADS') %>\n")
    jobs = of(read(app), "jobs")
    assert jobs.processes.missing == "--set jobs.processes=N"
    assert jobs.threads.source == "unknown: config/queue.yml:3 raised KeyError: workers not read"
    assert main(["check", str(app), "--postgres-max-connections", "500"]) == ExitCode.INCOMPLETE  # never a fits

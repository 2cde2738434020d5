"""connlab check evaluates a Rails app's files as each of its processes does: database.yml's ERB per process type
(``Sidekiq.server?``, ``defined?(Sidekiq)``, ``Rails.env``, ENV), puma.rb by the DSL of the Puma in Gemfile.lock, and
every figure it could not read an unknown (incomplete, exit 8), never a pool of 0.

Figures worked out by hand from the fixtures (tests/fixtures/apps/*; line numbers are theirs); the env given is what
``--env`` would give (RAILS_ENV defaults to production).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.check.model import AppConfig
from tests.helpers_check import APPS, _run_and_judge, check, of, pools, read, write
from tests.helpers_e2e import needs_rails, resource

INCOMPLETE_EXIT = 8


def missing(config: AppConfig) -> list[tuple[str, str, str]]:
    """(type, field, the flag that supplies it) for every unknown figure."""
    found = []
    for t in config.process_types:
        for field, setting in (("processes", t.processes), ("threads", t.threads),
                               *((f"pool {p.database}", p.size) for p in t.pools)):
            if setting.missing:
                found.append((t.name, field, setting.missing))
    return found


# -- rails-sidekiq-server-pool ---------------------------------------------------------------------------------------

def test_the_pool_from_sidekiq_server_is_the_one_each_process_gets() -> None:
    config = read("rails-sidekiq-server-pool")
    assert config.problems == () and missing(config) == []
    web, worker = of(config, "web"), of(config, "worker")
    # database.yml:5: defined?(Sidekiq) && Sidekiq.server? ? SIDEKIQ_CONCURRENCY (10) : RAILS_MAX_THREADS (3).
    # Sidekiq 7.3.2 in Gemfile.lock: defined in both (Bundler.require); server? false on the web, true in sidekiq
    assert pools(web) == [("primary", 3, "config/database.yml:5 (RAILS_MAX_THREADS unset)", "")]
    assert pools(worker) == [("primary", 10, "config/database.yml:5 (SIDEKIQ_CONCURRENCY unset)", "")]
    # web: workers ENV.fetch("WEB_CONCURRENCY", 2) (puma.rb:4) x threads 3 (puma.rb:1); worker: sidekiq.yml:1's
    # ERB, SIDEKIQ_CONCURRENCY unset: 10
    assert (web.processes.value, web.threads.value) == (2, 3)
    assert (worker.threads.value, worker.threads.source) == (10, "config/sidekiq.yml:1 (SIDEKIQ_CONCURRENCY unset)")
    # one variable moves both sides of the ternary it reaches: worker pool and concurrency 16, web untouched
    config = read("rails-sidekiq-server-pool", {"SIDEKIQ_CONCURRENCY": "16", "RAILS_MAX_THREADS": "4"})
    assert pools(of(config, "worker")) == [("primary", 16, "env SIDEKIQ_CONCURRENCY (config/database.yml:5)", "")]
    assert of(config, "worker").threads.value == 16
    assert pools(of(config, "web")) == [("primary", 4, "env RAILS_MAX_THREADS (config/database.yml:5)", "")]


def test_sidekiq_server_check_from_the_command_line_fits_exactly() -> None:
    done, _ = check(str(APPS / "rails-sidekiq-server-pool"), "--formation", "web=3,worker=2",
                    "--postgres-max-connections", "40", "--json")
    # web 3 x 2 x min(3, pool 3) = 18, worst 18; worker 2 x 1 x min(10, pool 10) = 20: 38 > capacity 40 - 3 = 37
    assert done.returncode == 6, done.stdout[-800:]
    postgres = json.loads(done.stdout)["resources"][0]
    assert (postgres["expected"], postgres["worst_case"], postgres["status"]) == (38, 38, "exhausts")
    done, _ = check(str(APPS / "rails-sidekiq-server-pool"), "--formation", "web=3,worker=1",
                    "--postgres-max-connections", "40", "--json")
    answer = json.loads(done.stdout)  # 18 + 10 = 28 of 37, every pool its threads: fits, no pool advice
    assert done.returncode == 0 and answer["resources"][0]["expected"] == 28 and answer["missing"] == []
    assert [line for line in answer["advice"] if not line.startswith("pgbouncer")] == []


def test_a_name_error_names_the_users_constant_and_line_never_connlabs(tmp_path: Path) -> None:
    app = write(tmp_path, {"Procfile": "web: bundle exec puma\nworker: bundle exec sidekiq\n",
                           "config/database.yml": "production:\n  adapter: postgresql\n\n"
                                                  "  pool: <%= Sidekiq.server? ? 10 : 5 %>\n"})
    # no Gemfile.lock: Sidekiq is loaded only in the process that runs it. The web raises, as the app would
    config = read(app)
    assert [p.line() for p in config.problems] == [
        "config/database.yml:4: NameError: uninitialized constant Sidekiq; --set web.pool=N"]
    assert "Connlab" not in config.problems[0].line()
    assert missing(config) == [("web", "pool primary", "--set web.pool=N")]
    assert pools(of(config, "worker")) == [("primary", 10, "config/database.yml:4", "")]
    # Rails.env and Rails.root in the same clean binding; the flag clears the unknown (the note stays: the file raises)
    write(tmp_path, {"Gemfile.lock": "GEM\n  specs:\n    sidekiq (7.3.2)\n",
                     "config/database.yml": "production:\n  adapter: postgresql\n"
                                            "  pool: <%= Rails.env.production? && Rails.root.join('config').exist? ? "
                                            "(Sidekiq.server? ? 12 : 6) : 1 %>\n"})
    config = read(app)
    assert (config.problems, missing(config)) == ((), [])
    assert [p.size.value for p in of(config, "web").pools + of(config, "worker").pools] == [6, 12]


# -- rails-database-url ----------------------------------------------------------------------------------------------

def test_no_production_section_is_incomplete_until_database_url_is_given() -> None:
    config = read("rails-database-url")
    # database.yml has development and test only: production's database is DATABASE_URL, not given
    assert [p.line() for p in config.problems] == [
        "config/database.yml: no production environment (has default, development, test) and no DATABASE_URL; "
        "--env DATABASE_URL=postgres://..., --env RAILS_ENV=... or --set web.pool=N"]
    assert missing(config) == [("web", "pool primary", "--env DATABASE_URL=postgres://... or --set web.pool=N")]
    # Rails merges DATABASE_URL: no ?pool= -> Rails' default 5; ?pool=12 -> 12
    config = read("rails-database-url", {"DATABASE_URL": "postgres://ledger:s3cret@db.example.com:5432/ledger"})
    assert (config.problems, missing(config)) == ((), [])
    assert pools(of(config, "web")) == [("primary", 5, "default (Rails: 5)", "")]
    config = read("rails-database-url", {"DATABASE_URL": "postgres://db.example.com/ledger?pool=12"})
    assert pools(of(config, "web")) == [("primary", 12, "env DATABASE_URL (pool=12)", "")]


def test_no_production_section_never_fits_with_exit_0() -> None:
    args = ["--formation", "web=2", "--postgres-max-connections", "100", "--json"]
    done, _ = check(str(APPS / "rails-database-url"), *args)
    # web 2 x 2 x min(3, pool >= 1) >= 4: far below 97, and still incomplete, exit 8
    assert done.returncode == INCOMPLETE_EXIT, done.stdout[-800:]
    answer = json.loads(done.stdout)
    assert answer["status"] == "incomplete" and answer["resources"][0]["expected"] == 4
    assert answer["missing"] == ["web.pool (--env DATABASE_URL=postgres://... or --set web.pool=N)"]
    done, _ = check(str(APPS / "rails-database-url"), *args, "--env", "DATABASE_URL=postgres://db.example.com/l")
    answer = json.loads(done.stdout)  # 2 x 2 x min(3, 5) = 12, worst 2 x 2 x 5 = 20: fits
    assert done.returncode == 0 and answer["missing"] == [] and answer["problems"] == []
    assert (answer["resources"][0]["expected"], answer["resources"][0]["worst_case"]) == (12, 20)
    done, _ = check(str(APPS / "rails-database-url"), *args, "--set", "web.pool=3")
    assert done.returncode == 0 and json.loads(done.stdout)["missing"] == []


# -- rails8-puma-auto ------------------------------------------------------------------------------------------------

def test_web_concurrency_auto_on_puma_7_is_the_dynos_processor_count_unknown() -> None:
    config = read("rails8-puma-auto")
    web = of(config, "web")
    # Procfile: WEB_CONCURRENCY=auto; Rails 8's puma.rb sets no workers; Puma 7.1.0 (Gemfile.lock) reads
    # WEB_CONCURRENCY=auto as Concurrent.available_processor_count (configuration.rb, since 6.5): the dyno's, not known
    assert web.processes.value == 1
    assert web.processes.source == (
        "unknown: Procfile web: WEB_CONCURRENCY=auto: one worker per processor in Puma 7.1.0 "
        "(Concurrent.available_processor_count), the dyno's, not known here")
    assert missing(config) == [("web", "processes", "--set web.processes=N")]  # the Procfile's own wins over --env
    assert (web.threads.value, web.threads.source) == (3, "config/puma.rb:14 (RAILS_MAX_THREADS unset)")
    assert pools(web) == [("primary", 5, "config/database.yml:6 (RAILS_MAX_THREADS unset)", "")]
    done, _ = check(str(APPS / "rails8-puma-auto"), "--postgres-max-connections", "100", "--json")
    assert done.returncode == INCOMPLETE_EXIT  # web 1 x >= 1 x min(3, 5) >= 3, release apart: incomplete
    answer = json.loads(done.stdout)
    assert answer["resources"][0]["expected"] == 3 and answer["missing"] == [
        "web.processes (--set web.processes=N)"]
    done, _ = check(str(APPS / "rails8-puma-auto"), "--postgres-max-connections", "100", "--set", "web.processes=4",
                    "--json")
    answer = json.loads(done.stdout)  # 4 x min(3, 5) = 12, worst 4 x 5 = 20
    assert done.returncode == 0 and answer["missing"] == []
    assert (answer["resources"][0]["expected"], answer["resources"][0]["worst_case"]) == (12, 20)


PUMA_LOCK = "GEM\n  specs:\n    puma ({})\n"
DATABASE = {"config/database.yml": "production:\n  adapter: postgresql\n  pool: 5\n"}


def test_the_puma_in_gemfile_lock_decides_not_the_hosts(tmp_path: Path) -> None:
    def web(version: str, puma_rb: str, env: dict[str, str] | None = None) -> tuple[AppConfig, str]:
        app = write(tmp_path / version.replace(".", "_") / str(abs(hash(puma_rb))), {
            "Procfile": "web: bundle exec puma -C config/puma.rb\n", "Gemfile.lock": PUMA_LOCK.format(version),
            "config/puma.rb": puma_rb, **DATABASE})
        config = read(app, env)
        return config, of(config, "web").processes.source

    # WEB_CONCURRENCY=auto before Puma 6.5: Integer("auto") raises at boot (configuration.rb, v6.4.0)
    config, source = web("6.4.3", "threads 3, 3\n", {"WEB_CONCURRENCY": "auto"})
    assert [p.line() for p in config.problems] == [
        "env WEB_CONCURRENCY: 'auto': Puma 6.4.3 raises ArgumentError at boot (Integer(); auto arrived in Puma 6.5); "
        "--env WEB_CONCURRENCY=N or --set web.processes=N"]
    assert source == "unknown: env WEB_CONCURRENCY='auto': Puma does not boot"
    # from 6.5 the processor count: unknown; --env WEB_CONCURRENCY=3 reads 3 and the unknown goes
    config, source = web("6.6.0", "threads 3, 3\n", {"WEB_CONCURRENCY": "auto"})
    assert missing(config) == [("web", "processes", "--env WEB_CONCURRENCY=N or --set web.processes=N")]
    config, source = web("6.6.0", "threads 3, 3\n", {"WEB_CONCURRENCY": "3"})
    assert (missing(config), source, of(config, "web").processes.value) == ([], "env WEB_CONCURRENCY", 3)
    # workers :auto: the processor count from Puma 7.2 (dsl.rb, #3827); Puma 7.1's count.to_i raises on a Symbol
    config, source = web("7.2.0", "workers :auto\nthreads 3\n")
    assert source.startswith("unknown: config/puma.rb:1: workers 'auto': one per processor in Puma 7.2.0")
    config, source = web("7.1.0", "workers :auto\nthreads 3\n")
    assert [p.path for p in config.problems] == ["config/puma.rb:1"]
    assert "NoMethodError" in config.problems[0].what and source.startswith("unknown: config/puma.rb stopped at line 1")
    # workers "auto" on Puma 6.6: "auto".to_i = 0, single mode, said so
    config, source = web("6.6.0", 'workers "auto"\n')
    assert of(config, "web").processes.value == 1 and "'auto'.to_i = 0 in Puma 6.6.0" in source
    assert missing(config) == []
    # threads with one argument: max = min from Puma 6.5; Puma 5.6 wants both (ArgumentError, threads unknown)
    config, _ = web("6.6.0", "threads 4\n")
    assert of(config, "web").threads.value == 4 and config.problems == ()
    config, _ = web("5.6.9", "threads 4\n")
    assert [p.line() for p in config.problems] == [
        "config/puma.rb:1: ArgumentError: wrong number of arguments (given 1, expected 2); "
        "--set web.processes=N and --set web.threads=N"]
    assert missing(config) == [("web", "processes", "--env WEB_CONCURRENCY=N or --set web.processes=N"),
                               ("web", "threads", "--set web.threads=N")]
    # no puma.rb call: Puma's defaults, with the version that gives them
    config, _ = web("7.1.0", "port 3000\n", {"MAX_THREADS": "8"})
    assert (of(config, "web").threads.value, of(config, "web").threads.source) == (8, "env MAX_THREADS (read by "
                                                                                       "Puma 7.1.0)")


def test_an_unread_web_server_is_unknown_not_one_by_one(tmp_path: Path) -> None:
    app = write(tmp_path, {"Procfile": "web: bundle exec passenger start\n", **DATABASE})
    config = read(app)
    assert missing(config) == [("web", "processes", "--set web.processes=N"), ("web", "threads", "--set web.threads=N")]
    config = read(app, flags={"web.processes": 2, "web.threads": 4})
    assert missing(config) == []


# -- --run -----------------------------------------------------------------------------------------------------------

@pytest.mark.e2e
@needs_rails
def test_run_reproduces_the_sidekiq_server_pool_fixture(tmp_path: Path) -> None:
    # web 2 dynos x 2 workers x min(3 threads, pool 3) = 12 + worker 1 x min(10 concurrency, its own pool 10) = 10:
    # 22 of capacity 25 - 3 = 22, worst the same: fits. The written scenario's worker pool is the worker's own (10),
    # not the web's (3), which would make the plan 12 + min(10, 3) = 15. Measured here: peak 22 of 22, Redis 16
    # (predicted 15 .. 27)
    document = _run_and_judge("rails-sidekiq-server-pool", ["--formation", "worker=1", "--autoscale", "web=1..2",
                                                            "--postgres-max-connections", "25"], tmp_path)
    pg = resource(document, "postgres")
    assert pg["predicted"]["expected"] == 22 and pg["observed"]["peak"] == 22  # type: ignore[index]

"""harness/check/launchers.py: how an app says it runs (Procfile, foreman's Procfile.x, Kamal, compose, the
Dockerfile's CMD), past the wrappers in front of its servers, for both readers; figures worked out by hand from the
fixtures (tests/fixtures/apps/*), each source naming the file and line the command came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.check.command import check
from harness.check.launchers import LOOKED, find
from harness.check.model import AppConfig, ProcessType
from harness.check.options import gather
from harness.check.py_procfile import is_server as py_is_server
from harness.check.python import read_python
from harness.check.rails import read_rails
from harness.check.rails_files import is_server
from harness.check.wrappers import foreman_procfile, strip, words_of
from harness.errors import PlanError
from harness.predict import FITS

APPS = Path(__file__).resolve().parent / "fixtures" / "apps"


def of(config: AppConfig, name: str) -> ProcessType:
    return next(t for t in config.process_types if t.name == name)


def test_wrappers_are_followed_to_the_server(tmp_path: Path) -> None:
    def words(text: str) -> tuple[str, ...]:
        return strip(words_of(text) or [], tmp_path, is_server).words
    assert words('./bin/thrust ./bin/rails server') == ("./bin/rails", "server")
    assert words('env RAILS_MAX_THREADS=3 bundle exec sidekiq -c 4') == ("sidekiq", "-c", "4")
    assert words('sh -c "cd web && bin/rails db:prepare; exec bin/rails server"') == ("bin/rails", "server")
    assert words('tini -- newrelic-admin run-program bundle exec puma') == ("puma",)
    # options of the wrappers are theirs, not the server's: env -u NAME, chpst -u USER, gosu USER, uv run --with X
    assert words('env -u HOME RAILS_ENV=production bundle exec puma') == ("puma",)
    assert words('chpst -u app bundle exec puma') == words('gosu app bundle exec puma') == ("puma",)
    assert words('uv run --with psycopg gunicorn app:app') == words('poetry run gunicorn app:app') == (
        "gunicorn", "app:app")
    assert words('opentelemetry-instrument --traces_exporter otlp gunicorn app:app') == ("gunicorn", "app:app")
    # an entrypoint script given the command runs it (`exec "$@"`), for Python's first-word servers too
    assert strip(["bin/docker-entrypoint", "gunicorn", "app:app"], tmp_path, py_is_server).words == (
        "gunicorn", "app:app")
    assert foreman_procfile(["honcho", "start", "-f", "Procfile.prod"]) == "Procfile.prod"
    stripped = strip(words_of("bin/start-pgbouncer-stunnel bundle exec puma -C config/puma.rb") or [], tmp_path,
                     is_server)
    assert stripped.pgbouncer and stripped.words == ("puma", "-C", "config/puma.rb")
    # an app's own shell script: the last line that runs a server (once-campfire's bin/start-app)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/start-app").write_text("#!/bin/bash -e\nrm -f tmp/pids/server.pid\n./bin/rails db:prepare\n"
                                            "./bin/rails server\n")
    followed = strip(words_of("bundle exec thrust bin/start-app") or [], tmp_path, is_server)
    assert followed.words == ("./bin/rails", "server")
    assert followed.via == ("bundle exec", "thrust", "bin/start-app:4")


def test_rails8_kamal_roles_env_clear_and_the_dockerfile_cmd() -> None:
    config = read_rails(APPS / "rails8-kamal", env={}, flags={})
    assert [(t.name, t.role, t.server) for t in config.process_types] == [("web", "web", "puma"),
                                                                          ("job", "worker", "solid_queue")]
    # the web role has no cmd: the image's CMD, Dockerfile:19 ["./bin/thrust", "./bin/rails", "server"] (ENTRYPOINT
    # bin/docker-entrypoint execs it); Kamal's env clear: WEB_CONCURRENCY 2 (line 30), RAILS_MAX_THREADS 4 (line 31)
    web = of(config, "web")
    assert (web.processes.value, web.processes.source) == (2, "config/deploy.yml:30 WEB_CONCURRENCY=2")
    assert (web.threads.value, web.threads.source) == (
        4, "config/deploy.yml:31 RAILS_MAX_THREADS=4 (config/puma.rb:14)")
    assert [(p.database, p.size.value) for p in web.pools] == [("primary", 4)]  # pool from RAILS_MAX_THREADS 4
    # job: cmd bin/jobs (line 12) with the role's own env clear JOB_CONCURRENCY 2 (line 15): 2 worker processes x 3
    # threads (queue.yml:7); queue pool 4: supervisor 2 + dispatcher 3 + 2 x min(3 + 2, 4) = 13; jobs 2 x min(3, 4) = 6
    job = of(config, "job")
    assert "config/deploy.yml:15 JOB_CONCURRENCY=2 (config/queue.yml:8)" in job.processes.source
    assert [(p.database, p.size.value) for p in job.pools] == [("primary", 6), ("queue", 13)]
    assert config.problems[0].line().startswith(
        "config/deploy.yml: process types from here, no Procfile: web (Dockerfile:19; via ./bin/thrust), "
        "job (config/deploy.yml:12)")
    # --env wins over Kamal's env
    flagged = read_rails(APPS / "rails8-kamal", env={"WEB_CONCURRENCY": "5"}, flags={})
    assert (of(flagged, "web").processes.value, of(flagged, "web").processes.source) == (5, "env WEB_CONCURRENCY")


def test_rails_compose_services_skip_postgres_and_redis() -> None:
    config = read_rails(APPS / "rails-compose", env={}, flags={})
    # db (postgres:16) and redis (redis:7-alpine) are not the app's; web has no command: Dockerfile:6's shell CMD
    assert [(t.name, t.server) for t in config.process_types] == [("web", "puma"), ("sidekiq", "sidekiq")]
    web = of(config, "web")
    # environment: WEB_CONCURRENCY 3 (line 15) x RAILS_MAX_THREADS 5 (line 4, merged in from the x-rails-env anchor)
    assert web.processes.value == 3 and web.processes.source.startswith(
        "docker-compose.yml:15 WEB_CONCURRENCY=3 (config/puma.rb:18)")
    assert (web.threads.value, web.threads.source) == (
        5, "docker-compose.yml:4 RAILS_MAX_THREADS=5 (config/puma.rb:14)")
    sidekiq = of(config, "sidekiq")
    # -c ${SIDEKIQ_CONCURRENCY:-8} on line 20: 8 unset, 12 with --env; Redis C + 1 = 9 .. C + 10 = 18 (Sidekiq 7)
    assert (sidekiq.threads.value, sidekiq.threads.source) == (
        8, "docker-compose.yml:20 sidekiq: -c ${SIDEKIQ_CONCURRENCY:-8} (SIDEKIQ_CONCURRENCY unset: 8)")
    assert [(u.expected.value, u.worst.value) for u in sidekiq.redis] == [(9, 18)]
    given = of(read_rails(APPS / "rails-compose", env={"SIDEKIQ_CONCURRENCY": "12"}, flags={}), "sidekiq")
    assert (given.threads.value, given.threads.source) == (
        12, "env SIDEKIQ_CONCURRENCY (docker-compose.yml:20 sidekiq: -c ${SIDEKIQ_CONCURRENCY:-8})")


def test_sidekiq_concurrency_from_a_variable_nobody_gives_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("worker: bundle exec sidekiq -c $SIDEKIQ_CONCURRENCY\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config/database.yml").write_text("production:\n  adapter: postgresql\n")
    worker = of(read_rails(tmp_path, env={}, flags={}), "worker")
    assert worker.threads.missing == "--env SIDEKIQ_CONCURRENCY=N or --set worker.threads=N"
    assert worker.threads.source == "unknown: Procfile worker: -c $SIDEKIQ_CONCURRENCY (SIDEKIQ_CONCURRENCY not given)"


def test_rails_foreman_procfile_from_bin_start_not_procfile_dev() -> None:
    config = read_rails(APPS / "rails-foreman-procfile", env={}, flags={})
    # bin/start:5 execs `foreman start -f Procfile.prod`; bin/dev's Procfile.dev (css watcher) is development
    assert [(t.name, t.server) for t in config.process_types] == [("web", "puma"), ("worker", "sidekiq")]
    web, worker = of(config, "web"), of(config, "worker")
    # puma.rb: 2 workers (line 18) x 3 threads (line 14); behind bin/start-pgbouncer: noted
    assert (web.processes.value, web.threads.value) == (2, 3)
    assert (worker.threads.value, worker.threads.source) == (
        6, "Procfile.prod worker: -c ${SIDEKIQ_CONCURRENCY:-6} (SIDEKIQ_CONCURRENCY unset: 6)")
    lines = [p.line() for p in config.problems]
    assert lines[0].startswith("Procfile.prod: process types from here, no Procfile: web (Procfile.prod:1; via "
                               "foreman start -f Procfile.prod (bin/start:5), bin/start-pgbouncer, bundle exec)")
    assert lines[1].startswith("Procfile.prod:1: web runs behind pgbouncer on the dyno")


def test_python_compose_cd_src_gunicorn_and_celery() -> None:
    config = read_python(APPS / "python-compose", env={}, flags={})
    # db, broker (valkey) and proxy (nginx) are not the app's
    assert [(t.name, t.server) for t in config.process_types] == [("web", "gunicorn"), ("worker", "celery")]
    web = of(config, "web")
    # sh -c "cd src && ... && exec gunicorn -c gunicorn.conf.py": src/gunicorn.conf.py, workers from WEB_CONCURRENCY
    # = 3 (compose environment, line 6) on line 3, threads 4 on line 4; CONN_MAX_AGE 60: a connection per thread
    assert (web.processes.value, web.processes.source) == (3, "env WEB_CONCURRENCY (src/gunicorn.conf.py:3)")
    assert (web.threads.value, web.threads.source) == (4, "src/gunicorn.conf.py:4")
    assert [(p.kind, p.size.value) for p in web.pools] == [("django-per-thread", 4)]
    worker = of(config, "worker")
    # exec form: --concurrency ${CELERY_CONCURRENCY:-4} on line 12: 4 prefork children of 1 thread
    assert (worker.processes.value, worker.processes.source) == (4, "compose.yaml:12 worker: --concurrency")
    assert config.problems[0].line().startswith(
        "compose.yaml: process types from here, no Procfile: web (compose.yaml:4; via sh -c, cd src, exec), "
        "worker (compose.yaml:12)")


def test_python_systemd_units_lowest_trust() -> None:
    config = read_python(APPS / "python-systemd", env={}, flags={})
    # deploy/systemd/*.service (no Procfile, compose nor Dockerfile): one type per unit, named after it;
    # inventory-housekeeping.service is Type=oneshot (a timer's job), no steady process
    assert [(t.name, t.role, t.server) for t in config.process_types] == [
        ("inventory-worker", "worker", "rq"), ("inventory", "web", "gunicorn")]
    web = of(config, "inventory")
    # ExecStart (line 12, continued on 13): --config /srv/inventory/gunicorn.py, WorkingDirectory /srv/inventory is
    # the app's folder; no gunicorn.py there, so the one beside the unit (deploy/systemd/gunicorn.py: threads 4 on
    # line 3); workers from the unit's Environment= WEB_CONCURRENCY=3 (line 9); CONN_MAX_AGE 300: one per thread
    assert (web.processes.value, web.processes.source) == (3, "env WEB_CONCURRENCY")
    assert (web.threads.value, web.threads.source) == (4, "deploy/systemd/gunicorn.py:3")
    assert [(p.kind, p.size.value) for p in web.pools] == [("django-per-thread", 4)]
    worker = of(config, "inventory-worker")  # manage.py rqworker: 1 process x 1 thread, 1 connection
    assert (worker.processes.value, worker.threads.value, [p.size.value for p in worker.pools]) == (1, 1, [1])
    # RQ's Redis names the unit the worker came from, not a Procfile
    assert worker.redis[0].worst.source.endswith("(deploy/systemd/inventory-worker.service:7 inventory-worker)")
    assert config.problems[0].line().startswith(
        "deploy/systemd/inventory-worker.service, deploy/systemd/inventory.service: process types from here, no "
        "Procfile: inventory-worker (deploy/systemd/inventory-worker.service:7; via /srv/inventory/inventory/manage.py "
        "read as inventory/manage.py), inventory (deploy/systemd/inventory.service:12; via /srv/inventory/inventory "
        "read as inventory, /srv/inventory/gunicorn.py read as deploy/systemd/gunicorn.py)")
    # Postgres: 3 x 4 + 1 x 1 x 1 = 13 at one of each, exact (every figure read)
    options = gather(APPS / "python-systemd", formation="inventory=1,inventory-worker=1", autoscale=None,
                     postgres_max_connections=100, postgres_reserved=None, redis_maxclients=None, env=[],
                     env_files=[], sets=[])
    result = check(APPS / "python-systemd", options)
    assert (result.postgres.expected, result.postgres.worst_case, result.missing) == (13, 13, ())


def test_rails_systemd_unit_paths_inside_a_shell_string(tmp_path: Path) -> None:
    (tmp_path / "config/deploy").mkdir(parents=True)
    (tmp_path / "config/database.yml").write_text("production:\n  adapter: postgresql\n  pool: 4\n")
    (tmp_path / "config/puma.rb").write_text("workers 2\nthreads 4, 4\n")
    (tmp_path / "config/deploy/puma.service").write_text(
        "[Service]\nWorkingDirectory=/var/www/shop/current\n"
        "ExecStart=/bin/bash -lc 'exec bundle exec puma -C /var/www/shop/current/config/puma.rb'\n")
    web = of(read_rails(tmp_path, env={}, flags={}), "puma")
    # the -C path inside bash -lc '...' is the app's config/puma.rb: workers 2 (line 1) x threads 4 (line 2)
    assert (web.role, web.processes.value, web.processes.source, web.threads.value) == (
        "web", 2, "config/puma.rb:1", 4)


def test_nothing_found_says_where_connlab_looked(tmp_path: Path) -> None:
    assert find(tmp_path, env={}, is_server=is_server).launches == ()
    options = gather(tmp_path, formation="web=2", autoscale=None, postgres_max_connections=100,
                     postgres_reserved=None, redis_maxclients=None, env=[], env_files=[], sets=[])
    with pytest.raises(PlanError) as raised:
        check(tmp_path, options)
    assert str(raised.value).count(f"connlab found none; it looked at: {LOOKED}") == 1
    assert "(it has )" not in str(raised.value)


@pytest.mark.parametrize("app", sorted(p.name for p in APPS.iterdir() if p.is_dir()))
def test_no_fixture_fits_while_a_figure_is_unknown(app: str) -> None:
    # every web and worker type at 1 dyno, so each of their figures enters a total
    types = read_rails(APPS / app, env={}, flags={}) if (APPS / app / "config").is_dir() and app.startswith("rails") \
        else read_python(APPS / app, env={}, flags={})
    formation = ",".join(f"{t.name}=1" for t in types.process_types if t.role in ("web", "worker")) or None
    options = gather(APPS / app, formation=formation, autoscale=None, postgres_max_connections=10_000,
                     postgres_reserved=None, redis_maxclients=10_000, env=[], env_files=[], sets=[])
    result = check(APPS / app, options)
    unknown = [s for t in result.app.process_types for b in (t, *t.beside)
               for s in (b.processes, b.threads, *(p.size for p in b.pools)) if s.missing]
    if unknown or any(p.incomplete for p in result.app.problems):
        assert result.status != FITS and result.missing, (app, unknown)

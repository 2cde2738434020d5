"""The Python reader on the servers, workers, Redis users and Django layouts real apps use (issue 15).

Every figure is worked by hand from the fixture's files with the formulas of ``harness.kinds`` (their docstrings)
and ``harness.check.arith``; where a file does not say a figure, the test asserts it is unknown, names the flag,
and that ``connlab check`` says incomplete (exit 8), never "fits".
"""

from __future__ import annotations

from pathlib import Path

from harness.check.arith import Limits, figures
from harness.check.command import check
from harness.check.model import AppConfig, ProcessType, Setting, unknown
from harness.check.options import CheckOptions
from harness.check.python import read_python

APPS = Path(__file__).resolve().parent / "fixtures" / "apps"
ASGI_FIX = "--set web.threads=N (requests in flight per process)"


def by_name(app: AppConfig) -> dict[str, ProcessType]:
    return {p.name: p for p in app.process_types}


def redis(process: ProcessType) -> list[tuple[str, int, int]]:
    return [(u.what, u.expected.value, u.worst.value) for u in process.redis]


def status(app: str | Path, formation: dict[str, int], *, env: dict[str, str] | None = None,
           flags: dict[str, int] | None = None, postgres: int = 100,
           redis_max: int = 100) -> tuple[str, tuple[str, ...]]:
    result = check(APPS / app if isinstance(app, str) else app, CheckOptions(
        formation=formation, autoscale=None, limits=Limits(postgres_max_connections=postgres,
                                                           redis_maxclients=redis_max),
        env=env or {}, flags=flags or {}))
    return result.status, result.missing


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# -- django-celery: Celery on Redis ------------------------------------------------------------------------------


def test_django_celery_redis_per_process() -> None:
    app = read_python(APPS / "django-celery", env={}, flags={})
    web, worker = by_name(app)["web"], by_name(app)["worker"]
    # CELERY_BROKER_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0") (proj/settings.py:36): Redis;
    # no result backend. web (4 threads): 2 .. 2 x min(4, broker_pool_limit 10) = 8 (kinds.celery.client_redis:
    # a producer holds 2, measured)
    assert redis(web) == [("Celery client", 2, 8)]
    assert "proj/settings.py:36 CELERY_BROKER_URL" in web.redis[0].worst.source
    # each of the 8 prefork children: 0 (no Redis result backend) .. 2 (a task sending a task: a producer)
    assert redis(worker) == [("Celery child", 0, 2)]
    # the main process: 10 (measured, Celery 5.7), once per worker dyno
    (main,) = worker.beside
    assert (main.name, main.processes.value, redis(main)) == ("worker (celery main)", 1,
                                                              [("Celery worker main process", 10, 10)])
    _, on_redis = figures(app, {"web": 1, "worker": 1}, Limits(postgres_max_connections=100, redis_maxclients=60))
    # web 3 x (2 .. 8) = 6 .. 24; children 8 x (0 .. 2) = 0 .. 16; main 1 x 10: 16 .. 50 of 60
    assert (on_redis.expected, on_redis.worst_case, on_redis.status) == (6 + 0 + 10, 24 + 16 + 10, "fits")
    # Postgres 48 of 97 (test_check_python), Redis 50 of 60: fits, and every figure is known
    assert status("django-celery", {"web": 1, "worker": 1}, redis_max=60) == ("fits", ())
    # at maxclients 40 only the worst case is over: at-risk; at 15 the expected 16 is: exhausts
    assert status("django-celery", {"web": 1, "worker": 1}, redis_max=40)[0] == "at-risk"
    assert status("django-celery", {"web": 1, "worker": 1}, redis_max=15)[0] == "exhausts"


def test_celery_broker_from_the_env_wins_and_amqp_counts_nothing() -> None:
    app = read_python(APPS / "django-celery", env={"CELERY_BROKER_URL": "amqp://guest@rabbit//"}, flags={})
    assert by_name(app)["web"].redis == () and by_name(app)["worker"].beside == ()


def test_celery_concurrency_unknown_until_given(tmp_path: Path) -> None:
    write(tmp_path, {"Procfile": "web: gunicorn app:app\nworker: celery -A app worker -P threads\n",
                     "requirements.txt": "flask\ncelery[redis]\nsqlalchemy\n"})
    flags = {"sqlalchemy.pool_size": 2, "sqlalchemy.max_overflow": 0}
    app = read_python(tmp_path, env={}, flags=flags)
    worker = by_name(app)["worker"]
    assert worker.threads.missing == "add --concurrency N, or --set worker.threads=N"
    # no Django settings: the broker is not read, and the app names redis: unknown until --env CELERY_BROKER_URL
    assert [u.expected.missing for u in worker.redis] == [
        "--env CELERY_BROKER_URL=redis://... (or amqp://... when it is not Redis)"]
    assert status(tmp_path, {"web": 1, "worker": 1}, flags=flags)[0] == "incomplete"
    env = {"CELERY_BROKER_URL": "redis://r:6379/0", "CELERY_RESULT_BACKEND": "redis://r:6379/1"}
    app = read_python(tmp_path, env=env, flags={**flags, "worker.threads": 6})
    # a threaded pool of 6 in one process: main 10 + pool (result backend per thread) 6 .. 6 + 6 producers x 2 = 18
    assert redis(by_name(app)["worker"]) == [("Celery worker main process", 10, 10), ("Celery pool", 6, 18)]
    # web (gunicorn's 1 thread): 2 .. 2 x min(1, 10) = 2, + 1 .. 2 x 1 (result consumer and client): 3 .. 4
    assert redis(by_name(app)["web"]) == [("Celery client", 3, 4)]
    assert status(tmp_path, {"web": 1, "worker": 1}, env=env, flags={**flags, "worker.threads": 6}) == ("fits", ())


# -- django-rq-redis: django-redis cache + manage.py rqworker ----------------------------------------------------


def test_django_rq_redis() -> None:
    app = read_python(APPS / "django-rq-redis", env={}, flags={})
    assert app.problems == ()
    web, worker = by_name(app)["web"], by_name(app)["worker"]
    assert (worker.role, worker.server, worker.processes) == ("worker", "rq", Setting(
        value=1, source="manage.py rqworker: 1 process"))
    # web, 4 threads: RQ enqueue 1 .. 4 (kinds.redis_py), django-redis pool max_connections 3: 1 .. min(4, 3) = 3
    assert redis(web) == [("RQ enqueue", 1, 4), ("django-redis 'default'", 1, 3)]
    assert "pool max_connections 3" in web.redis[1].worst.source and "shop/settings.py:15" in web.redis[1].worst.source
    # rqworker: 3C .. 4C with C = 1 (kinds.rq), django-redis 1 .. min(1 thread, 3) = 1
    assert redis(worker) == [("RQ worker", 3, 4), ("django-redis 'default'", 1, 1)]
    postgres, on_redis = figures(app, {"web": 1, "worker": 1}, Limits(postgres_max_connections=20,
                                                                      redis_maxclients=20))
    # Postgres: web 2 x 4 threads (CONN_MAX_AGE 60: one each) + worker 1 x 1 = 9
    assert (postgres.expected, postgres.worst_case) == (9, 9)
    # Redis: web 2 x (1 + 1 .. 4 + 3) = 4 .. 14; worker 1 x (3 + 1 .. 4 + 1) = 4 .. 5
    assert (on_redis.expected, on_redis.worst_case) == (8, 19)
    assert status("django-rq-redis", {"web": 1, "worker": 1}, postgres=20, redis_max=20) == ("fits", ())


# -- django-asgi-uvicorn: ASGI, SQLite default, Django's RedisCache ----------------------------------------------


def test_django_asgi_uvicorn_is_never_one_by_one() -> None:
    app = read_python(APPS / "django-asgi-uvicorn", env={}, flags={})
    web = by_name(app)["web"]
    # --workers ${WEB_CONCURRENCY:-2}: 2; the requests in flight per process: unknown (ASGI: a connection each)
    assert (web.server, web.role, web.processes) == ("uvicorn", "web",
                                                     Setting(value=2, source="Procfile web: --workers"))
    assert web.threads == unknown(source="uvicorn (ASGI): a connection per request in flight, which no thread count "
                                  "bounds", fix=ASGI_FIX)
    # dj_database_url.config(default=f"sqlite:///...") and no DATABASE_URL: SQLite, nothing counted on Postgres
    assert web.pools == ()
    assert [p.line() for p in app.problems] == [
        "shop/settings.py:13: DATABASES['default'] is SQLite: nothing counted on Postgres; if production's database "
        "is PostgreSQL, give what the settings read: --env DATABASE_URL=postgres://..."]
    result, missing = status("django-asgi-uvicorn", {"web": 1, "worker": 1})
    assert result == "incomplete" and f"web.threads ({ASGI_FIX})" in missing


def test_django_asgi_uvicorn_with_what_it_asks_for() -> None:
    env, flags = {"DATABASE_URL": "postgres://u@db/shop"}, {"web.threads": 10}
    app = read_python(APPS / "django-asgi-uvicorn", env=env, flags=flags)
    assert app.problems == ()
    web, worker = by_name(app)["web"], by_name(app)["worker"]
    assert web.pools[0].kind == "django-per-request"  # conn_max_age=0
    assert web.pools[0].size.source.startswith("a connection per request in flight (ASGI): CONN_MAX_AGE 0")
    # web, 10 in flight, a Redis result backend: Celery client 2 + 1 .. 2 x min(10, 10) + 2 x 10 = 3 .. 40;
    # RedisCache 1 .. 10
    assert redis(web) == [("Celery client", 3, 40), ("Django RedisCache 'default'", 1, 10)]
    # children (CELERY_RESULT_BACKEND = the broker: Redis): 1 .. 1 + 2 each, cache 1 .. 1; main 10
    assert redis(worker) == [("Celery child", 1, 3), ("Django RedisCache 'default'", 1, 1)]
    postgres, on_redis = figures(app, {"web": 1, "worker": 1}, Limits(postgres_max_connections=100))
    # Postgres: web 2 x 10 (2 x 20 while closing) + worker 2 x 1 (2 x 2) = 22, worst 44
    assert (postgres.expected, postgres.worst_case) == (22, 44)
    # Redis: web 2 x (4 .. 50) = 8 .. 100; children 2 x (2 .. 4) = 4 .. 8; main 10: 22 .. 118
    assert (on_redis.expected, on_redis.worst_case) == (22, 118)
    assert status("django-asgi-uvicorn", {"web": 1, "worker": 1}, env=env, flags=flags, redis_max=120) == \
        ("fits", ())


def test_limit_concurrency_bounds_the_requests_in_flight(tmp_path: Path) -> None:
    write(tmp_path, {"Procfile": "web: uvicorn shop.asgi:application --limit-concurrency 25\n", "manage.py": "",
                     "shop/settings.py": "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', "
                                         "'CONN_MAX_AGE': 60}}\n"})
    app = read_python(tmp_path, env={"WEB_CONCURRENCY": "3"}, flags={})
    web = by_name(app)["web"]
    assert (web.processes, web.threads) == (
        Setting(value=3, source="env WEB_CONCURRENCY"),
        Setting(value=25, source="Procfile web: --limit-concurrency: ASGI, a connection per request in flight"))
    # CONN_MAX_AGE 60 under ASGI: a thread per request, the kept connection is never reused: a session per request
    assert web.pools[0].kind == "django-per-request"
    assert [p.path for p in app.problems] == ["shop/settings.py:1"]
    assert "When using ASGI, persistent connections should be disabled" in app.problems[0].fix
    # 2 dynos x 3 x 25 = 150 expected, 2 x 150 = 300 at worst: at-risk at capacity 157, fits at 307
    assert status(tmp_path, {"web": 2}, env={"WEB_CONCURRENCY": "3"}, postgres=160) == ("at-risk", ())
    assert status(tmp_path, {"web": 2}, env={"WEB_CONCURRENCY": "3"}, postgres=310) == ("fits", ())


# -- django-uwsgi: ini file, chdir, manage.py one folder down ----------------------------------------------------


def test_django_uwsgi_ini() -> None:
    app = read_python(APPS / "django-uwsgi", env={}, flags={})
    web = by_name(app)["web"]
    # uwsgi.ini: chdir = app, settings site.settings (env = line and app/manage.py), threads = 3 (line 9)
    assert web.server == "uwsgi" and web.threads == Setting(value=3, source="uwsgi.ini:9")
    assert web.processes == unknown(source="uwsgi.ini:8 processes = '$(UWSGI_PROCESSES)' is not a number "
                                    "(UWSGI_PROCESSES not given)",
                                    fix="--env UWSGI_PROCESSES=N, or --set web.processes=N")
    assert web.pools[0].size.source == "a connection per thread: CONN_MAX_AGE 300 (kept), app/site/settings.py:9"
    assert status("django-uwsgi", {"web": 1})[0] == "incomplete"
    app = read_python(APPS / "django-uwsgi", env={"UWSGI_PROCESSES": "4"}, flags={})
    web = by_name(app)["web"]
    assert web.processes == Setting(value=4, source="env UWSGI_PROCESSES (uwsgi.ini:8)")
    # django-redis without max_connections: redis-py's pool, 1 .. 3 threads per process
    assert redis(web) == [("django-redis 'default'", 1, 3)]
    postgres, on_redis = figures(app, {"web": 2}, Limits(postgres_max_connections=30, redis_maxclients=30))
    # Postgres 2 x 4 x 3 = 24 of 27; Redis 2 x 4 x (1 .. 3) = 8 .. 24
    assert (postgres.expected, on_redis.expected, on_redis.worst_case) == (24, 8, 24)
    assert status("django-uwsgi", {"web": 2}, env={"UWSGI_PROCESSES": "4"}, postgres=30, redis_max=30) == ("fits", ())


def test_uwsgi_command_line_over_the_ini(tmp_path: Path) -> None:
    write(tmp_path, {"Procfile": "web: uwsgi --ini conf/u.ini --processes 5\nalt: uwsgi --http :8000 --gevent 100\n",
                     "conf/u.ini": "[uwsgi]\nprocesses = 2\nworkers = 3\nthreads = 2\n",
                     "requirements.txt": "flask\nsqlalchemy\n"})
    app = read_python(tmp_path, env={}, flags={"sqlalchemy.pool_size": 5, "sqlalchemy.max_overflow": 0})
    web, alt = by_name(app)["web"], by_name(app)["alt"]
    assert (web.processes, web.threads) == (Setting(value=5, source="Procfile web: --processes"),
                                            Setting(value=2, source="conf/u.ini:4"))
    assert (alt.processes.source, alt.threads) == ("default (uWSGI: 1 worker)", Setting(
        value=100, source="Procfile alt: --gevent: gevent, a greenlet per request"))


# -- django-src-layout: settings under src/, cd src && gunicorn --------------------------------------------------


def test_django_src_layout() -> None:
    app = read_python(APPS / "django-src-layout", env={}, flags={})
    web = by_name(app)["web"]
    assert (web.server, web.processes.value, web.threads.value) == ("gunicorn", 2, 4)
    assert [p.line() for p in app.problems] == [
        "src/shop/settings.py:6: DATABASES['default'] ENGINE not read (env.db: env DATABASE_URL not given); assumed "
        "PostgreSQL (give the env it reads: --env DATABASE_URL=postgres://...)"]
    app = read_python(APPS / "django-src-layout", env={"DATABASE_URL": "postgres://u@db/shop"}, flags={})
    assert app.problems == ()  # --env DATABASE_URL clears the note
    web = by_name(app)["web"]
    assert web.pools[0].size.source == "a connection per thread: CONN_MAX_AGE 60 (kept), src/shop/settings.py:7"
    postgres, _ = figures(app, {"web": 3}, Limits(postgres_max_connections=30))
    assert postgres.expected == 3 * 2 * 4  # 24 of 27
    assert status("django-src-layout", {"web": 3}, env={"DATABASE_URL": "postgres://u@db/shop"}, postgres=30) == \
        ("fits", ())


# -- other servers and workers -----------------------------------------------------------------------------------


def test_granian_gunicorn_uvicorn_worker_and_dramatiq(tmp_path: Path) -> None:
    write(tmp_path, {
        "Procfile": "web: granian --interface wsgi --workers 3 --blocking-threads 4 shop.wsgi:application\n"
                    "api: granian --interface asgi shop.asgi:application\n"
                    "ws: gunicorn -w 2 -k uvicorn_worker.UvicornWorker shop.asgi:application\n"
                    "jobs: dramatiq shop.tasks --processes 2 --threads 3\n",
        "manage.py": "",
        "requirements.txt": "django\ndramatiq[redis]\n",
        "shop/settings.py": "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', "
                            "'CONN_MAX_AGE': 60}}\n",
    })
    types = by_name(read_python(tmp_path, env={}, flags={}))
    assert (types["web"].processes.value, types["web"].threads) == (3, Setting(value=4, source="Procfile web: "
                                                                                   "--blocking-threads"))
    assert types["api"].processes == Setting(value=1, source="default (granian: 1 worker)")
    assert types["api"].threads.missing == "--set api.threads=N (requests in flight per process)"
    assert types["ws"].processes.value == 2
    assert types["ws"].threads.missing == "--set ws.threads=N (requests in flight per process)"
    # dramatiq[redis]: each of 2 processes 1 .. T + 2 = 5 (kinds.dramatiq); the web enqueues 1 .. 4 threads
    assert redis(types["jobs"]) == [("dramatiq", 1, 5)]
    assert redis(types["web"]) == [("dramatiq enqueue", 1, 4)]
    granian_wsgi = write(tmp_path / "g", {"Procfile": "web: granian --interface wsgi app:app\n",
                                          "requirements.txt": "flask\nsqlalchemy\n"})
    web = by_name(read_python(granian_wsgi, env={}, flags={}))["web"]
    assert web.threads.missing == "add --blocking-threads N, or --set web.threads=N"


def test_unknown_web_server_and_no_process_type(tmp_path: Path) -> None:
    write(tmp_path / "a", {"Procfile": "web: waitress-serve --threads=8 shop.wsgi:application\n", "manage.py": "",
                           "shop/settings.py": "DATABASES = {'default': {'ENGINE': "
                                               "'django.db.backends.postgresql'}}\n"})
    web = by_name(read_python(tmp_path / "a", env={}, flags={}))["web"]
    assert (web.processes.missing, web.threads.missing) == ("--set web.processes=N", "--set web.threads=N")
    assert status(tmp_path / "a", {"web": 1})[0] == "incomplete"
    assert status(tmp_path / "a", {"web": 1}, flags={"web.processes": 2, "web.threads": 4}) == ("fits", ())
    # a Django app with no Procfile and no gunicorn: no process type found -> incomplete, never fits
    write(tmp_path / "b", {"manage.py": "", "requirements.txt": "django\n",
                           "shop/settings.py": "DATABASES = {'default': {'ENGINE': "
                                               "'django.db.backends.postgresql'}}\n"})
    result, missing = status(tmp_path / "b", {})
    assert result == "incomplete" and any("no process type found" in line for line in missing)


def test_no_internal_repr_in_any_line_or_source() -> None:
    for app_dir in sorted(APPS.iterdir()):
        if not app_dir.name.startswith(("django-", "flask-", "python-")):
            continue  # the Rails fixtures
        app = read_python(app_dir, env={}, flags={})
        shown = [p.line() for p in app.problems] + [
            s.source for t in app.process_types for s in (t.processes, t.threads, *(p.size for p in t.pools),
                                                          *(u.worst for u in t.redis))]
        assert not [line for line in shown if "Unknown(" in line or "why=" in line], app_dir.name


def test_dj_database_url_default_env_and_an_env_name_not_read(tmp_path: Path) -> None:
    # saleor/settings.py: env=dj_database_url.DEFAULT_ENV, and a replica whose env name is set inside an if/else
    write(tmp_path, {"Procfile": "web: gunicorn -w 2 --threads 3 shop.wsgi\n", "manage.py": "",
                     "shop/settings.py": "import os\nimport dj_database_url\n"
                                         "if os.environ.get('REPLICA_URL'):\n    REPLICA_ENV = 'REPLICA_URL'\n"
                                         "else:\n    REPLICA_ENV = dj_database_url.DEFAULT_ENV\n"
                                         "DATABASES = {\n"
                                         "    'default': dj_database_url.config(env=dj_database_url.DEFAULT_ENV,\n"
                                         "        default='postgres://u@localhost/shop', conn_max_age=60),\n"
                                         "    'replica': dj_database_url.config(env=REPLICA_ENV,\n"
                                         "        default='postgres://u@localhost/shop', conn_max_age=60),\n"
                                         "}\n"})
    app = read_python(tmp_path, env={}, flags={})
    # DEFAULT_ENV is DATABASE_URL (not given: the default URL, Postgres); REPLICA_URL not given: the else branch
    assert app.problems == ()
    web = by_name(app)["web"]
    assert [(p.database, p.kind) for p in web.pools] == [("default", "django-per-thread"),
                                                         ("replica", "django-per-thread")]
    # 2 processes x 3 threads x 2 databases = 12 per dyno
    postgres, _ = figures(app, {"web": 1}, Limits(postgres_max_connections=20))
    assert (postgres.expected, postgres.worst_case) == (12, 12)
    app = read_python(tmp_path, env={"DATABASE_URL": "sqlite:///db.sqlite3"}, flags={})
    # DEFAULT_ENV read from the env given, for both (the replica's name is DEFAULT_ENV too): SQLite, nothing counted
    assert by_name(app)["web"].pools == ()
    # the env name from code connlab does not run: the default URL, as dj_database_url does when it is unset
    settings = tmp_path / "shop/settings.py"
    settings.write_text(settings.read_text().replace("if os.environ.get('REPLICA_URL')", "if replica_wanted()"))
    app = read_python(tmp_path, env={}, flags={})
    assert [p.database for p in by_name(app)["web"].pools] == ["default", "replica"]
    assert not [p for p in app.problems if "not read:" in p.line() or "Unknown" in p.line()]


# -- django-uwsgi-daemons: healthchecks' pattern (docker/uwsgi.ini, if-not-env, attach-daemon, SQLite default) ---


def test_django_uwsgi_daemons_sqlite_default_names_the_env_that_switches_it() -> None:
    app = read_python(APPS / "django-uwsgi-daemons", env={}, flags={})
    web = by_name(app)["web"]
    # Dockerfile:5 CMD uwsgi /opt/monitor/docker/uwsgi.ini: the app's docker/uwsgi.ini (COPY . /opt/monitor/)
    # UWSGI_PROCESSES not given: the if-not-env block is read, processes = 4 (line 6); threads = 2 (line 9)
    assert (web.server, web.processes, web.threads) == ("uwsgi", Setting(value=4, source="docker/uwsgi.ini:6"),
                                                        Setting(value=2, source="docker/uwsgi.ini:9"))
    # two attach-daemon lines (the SMTPD_PORT one is inside if-env, not given), each a one-off beside the web
    assert [(b.name, b.role, b.command) for b in web.beside] == [
        ("web-sendalerts", "oneoff", "./manage.py sendalerts"),
        ("web-sendreports", "oneoff", "./manage.py sendreports --loop")]
    assert "monitor/monitor/settings.py:9: DATABASES['default'] is SQLite: nothing counted on Postgres; if " \
        "production's database is PostgreSQL, give what the settings read: --env DB=... (monitor/monitor/" \
        "settings.py:14 sets DATABASES when `os.getenv('DB') == 'postgres'`)" in [p.line() for p in app.problems]
    assert web.pools == () and all(b.pools == () for b in web.beside)


def test_django_uwsgi_daemons_on_postgres() -> None:
    env = {"DB": "postgres", "SMTPD_PORT": "2525"}
    app = read_python(APPS / "django-uwsgi-daemons", env=env, flags={})
    web = by_name(app)["web"]
    assert [b.name for b in web.beside] == ["web-sendalerts", "web-sendreports", "web-smtpd"]
    assert web.pools[0].kind == "django-per-request"  # CONN_MAX_AGE int(os.getenv("DB_CONN_MAX_AGE", "0")) = 0
    postgres, _ = figures(app, {"web": 2}, Limits(postgres_max_connections=40))
    # per dyno: web 4 x 2 threads = 8 (worst 2 x 8 = 16 while closing) + 3 daemons x 1 (one-off: 1 connection)
    # = 11 .. 19; 2 dynos: 22 .. 38 of 37 (40 - 3 reserved): only the worst case over
    assert (postgres.expected, postgres.worst_case, postgres.status) == (22, 38, "at-risk")
    # healthchecks' way to size it: UWSGI_PROCESSES skips the ini's processes (if-not-env) and uWSGI reads it
    app = read_python(APPS / "django-uwsgi-daemons", env={"DB": "postgres", "UWSGI_PROCESSES": "6"}, flags={})
    web = by_name(app)["web"]
    assert web.processes == Setting(value=6, source="env UWSGI_PROCESSES")
    postgres, _ = figures(app, {"web": 1}, Limits(postgres_max_connections=40))
    assert (postgres.expected, postgres.worst_case) == (6 * 2 + 2, 6 * 2 * 2 + 2)  # 14 .. 26
    assert status("django-uwsgi-daemons", {"web": 1}, env={"DB": "postgres", "UWSGI_PROCESSES": "6"},
                  postgres=40) == ("fits", ())


def test_uwsgi_ini_over_the_env_and_blocks_not_evaluated(tmp_path: Path) -> None:
    write(tmp_path, {"Procfile": "web: uwsgi --ini conf/u.ini\n", "requirements.txt": "flask\nsqlalchemy\n",
                     "conf/u.ini": "[uwsgi]\nthreads = 4\nif-exists = /etc/big-box\nprocesses = 8\nendif =\n"})
    flags = {"sqlalchemy.pool_size": 4, "sqlalchemy.max_overflow": 0}
    web = by_name(read_python(tmp_path, env={"UWSGI_THREADS": "9"}, flags=flags))["web"]
    # the ini's threads = 4 wins over the environ's UWSGI_THREADS (uWSGI parses the environ first)
    assert web.threads == Setting(value=4, source="conf/u.ini:2")
    # processes = 8 only when /etc/big-box exists on the dyno: unknown
    assert web.processes == unknown(source="conf/u.ini:4 processes = 8 is set inside `conf/u.ini:3 if-exists = "
                                    "/etc/big-box`, which connlab does not evaluate", fix="--set web.processes=N")
    assert status(tmp_path, {"web": 1}, flags=flags)[0] == "incomplete"
    assert status(tmp_path, {"web": 1}, flags={**flags, "web.processes": 8}) == ("fits", ())


def test_hypercorn_daphne_and_workers_run_by_manage_py(tmp_path: Path) -> None:
    write(tmp_path, {
        "Procfile": "web: daphne -b 0.0.0.0 -p $PORT shop.asgi:application\n"
                    "api: hypercorn -w 3 shop.asgi:application\n"
                    "legacy: hypercorn shop.wsgi:application\n"
                    "worker: python manage.py celery worker -c 3 -l info\n"
                    "old: python manage.py celeryd --concurrency=2\n"
                    "jobs: python manage.py rundramatiq --threads 4\n",
        "manage.py": "", "requirements.txt": "django\ncelery[redis]\ndjango-dramatiq\ndramatiq[redis]\n",
        "shop/settings.py": "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', "
                            "'CONN_MAX_AGE': 60}}\nCELERY_BROKER_URL = 'redis://r:6379/0'\n"})
    types = by_name(read_python(tmp_path, env={}, flags={}))
    # daphne: one process, ASGI: a connection per request in flight, no limit of its own
    assert (types["web"].server, types["web"].processes.value) == ("daphne", 1)
    assert types["web"].threads.missing == ASGI_FIX
    assert (types["api"].processes, types["api"].threads.missing) == (
        Setting(value=3, source="Procfile api: -w"), "--set api.threads=N (requests in flight per process)")
    assert types["legacy"].processes.source == "default (hypercorn: 1 worker)"
    assert types["legacy"].threads.missing == "--set legacy.threads=N"
    # django-celery's manage.py celery worker -c 3: 3 prefork children, and the main process beside them
    assert (types["worker"].server, types["worker"].processes) == ("celery", Setting(value=3,
                                                                                   source="Procfile worker: -c"))
    assert [b.name for b in types["worker"].beside] == ["worker (celery main)"]
    assert (types["old"].server, types["old"].processes.value) == ("celery", 2)
    # django_dramatiq: --processes defaults to DRAMATIQ_NPROCS, else the CPU count: unknown; --threads 4
    assert types["jobs"].processes.missing == "add --processes N, or --set jobs.processes=N"
    assert types["jobs"].threads == Setting(value=4, source="Procfile jobs: --threads")
    jobs = by_name(read_python(tmp_path, env={"DRAMATIQ_NPROCS": "2"}, flags={}))["jobs"]
    assert jobs.processes == Setting(value=2, source="env DRAMATIQ_NPROCS")
    # dramatiq[redis]: 1 .. T + 2 = 6 per process (kinds.dramatiq)
    assert redis(jobs) == [("dramatiq", 1, 6)]


def test_celery_concurrency_in_settings_not_read(tmp_path: Path) -> None:
    # paperless-ngx: CELERY_WORKER_CONCURRENCY = get_int_from_env("PAPERLESS_TASK_WORKERS", 1)
    write(tmp_path, {"Procfile": "worker: celery --app shop worker --loglevel INFO\n", "manage.py": "",
                     "requirements.txt": "django\ncelery[redis]\n",
                     "shop/settings.py": "from shop.env import get_int_from_env\n"
                                         "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql'}}\n"
                                         "CELERY_BROKER_URL = 'redis://r:6379/0'\n"
                                         "CELERY_WORKER_CONCURRENCY = get_int_from_env('TASK_WORKERS', 1)\n"})
    worker = by_name(read_python(tmp_path, env={}, flags={}))["worker"]
    assert worker.processes == unknown(source="shop/settings.py:4 CELERY_WORKER_CONCURRENCY not read "
                                       "(`get_int_from_env('TASK_WORKERS', 1)` is not read without running it)",
                                       fix="--set worker.processes=N")
    # Celery 3's name, as django-celery apps spell it
    (tmp_path / "shop/settings.py").write_text("CELERYD_CONCURRENCY = 3\nCELERY_BROKER_URL = 'redis://r:6379/0'\n")
    worker = by_name(read_python(tmp_path, env={}, flags={}))["worker"]
    assert worker.processes == Setting(value=3, source="shop/settings.py:1 CELERYD_CONCURRENCY")


def test_caches_from_a_url_and_caches_not_read(tmp_path: Path) -> None:
    # saleor: CACHES = {"default": django_cache_url.config()}: env CACHE_URL, else django-cache-url's locmem://
    write(tmp_path, {"Procfile": "web: gunicorn -w 2 --threads 4 shop.wsgi\n", "manage.py": "",
                     "requirements.txt": "django\ndjango-redis\ndjango-cache-url\n",
                     "shop/settings.py": "import django_cache_url\n"
                                         "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql'}}\n"
                                         "CACHES = {'default': django_cache_url.config()}\n"})
    assert by_name(read_python(tmp_path, env={}, flags={}))["web"].redis == ()  # locmem://: not Redis
    web = by_name(read_python(tmp_path, env={"CACHE_URL": "redis://r:6379/1"}, flags={}))["web"]
    # django-redis without max_connections: redis-py's pool, 1 .. 4 threads per process
    assert redis(web) == [("django-redis 'default'", 1, 4)]
    # CACHES built by code, in an app that has django-redis: unknown until --set web.cache_pool=N
    (tmp_path / "shop/settings.py").write_text("DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql'}}\n"
                                               "CACHES = build_caches()\n")
    web = by_name(read_python(tmp_path, env={}, flags={}))["web"]
    assert [(u.what, u.expected.missing) for u in web.redis] == [
        ("Django cache (CACHES not read)", "--set web.cache_pool=N (the cache's Redis connections per process; 0: "
                                           "not Redis)")]
    assert status(tmp_path, {"web": 1})[0] == "incomplete"
    # 2 processes x 3 = 6 on Redis; Postgres 2 x 4 = 8
    web = by_name(read_python(tmp_path, env={}, flags={"web.cache_pool": 3}))["web"]
    assert redis(web) == [("Django cache (CACHES not read)", 3, 3)]
    assert status(tmp_path, {"web": 1}, flags={"web.cache_pool": 3}) == ("fits", ())
    assert by_name(read_python(tmp_path, env={}, flags={"web.cache_pool": 0}))["web"].redis == ()

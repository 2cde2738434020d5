"""The Python app reader (``harness.check.python``) against the fixture apps, every figure and source by hand.

The connection figures in the comments are the arithmetic of ``harness.check.arith`` worked by hand on what the
reader returns (per process: django-per-thread T; django-pool max(min_size, min(T, max_size)), worst
max(min_size, max_size); sqlalchemy min(T, S + O), worst S + O).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.check import python as reader
from harness.check.model import AppConfig, Pool, ProcessType, Setting, unknown
from harness.check.python import read_python

APPS = Path(__file__).resolve().parent / "fixtures" / "apps"


def by_name(app: AppConfig) -> dict[str, ProcessType]:
    return {p.name: p for p in app.process_types}


def figures(process: ProcessType) -> tuple[tuple[int, str], tuple[int, str]]:
    return (process.processes.value, process.processes.source), (process.threads.value, process.threads.source)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# -- django-celery -------------------------------------------------------------------------------------------------

REPORTS = Pool(database="reports", kind="django-pool",
               size=Setting(value=4, source="proj/settings.py:28 pool max_size"),
               min_size=Setting(value=2, source="proj/settings.py:28 pool min_size"))


def test_django_celery_settings_and_sources() -> None:
    app = read_python(APPS / "django-celery", env={}, flags={})
    assert app.framework == "django"
    assert app.versions == {"django": "5.1.4", "gunicorn": "23.0.0", "celery": "5.4.0", "psycopg": "3.2.3"}
    assert app.problems == ()
    types = by_name(app)
    assert list(types) == ["web", "worker", "release"]

    # web: gunicorn.conf.py's workers = int(os.environ.get("WEB_CONCURRENCY", 3)) -> 3, threads = 4 (gthread)
    web = types["web"]
    assert (web.role, web.server) == ("web", "gunicorn")
    assert figures(web) == ((3, "gunicorn.conf.py:4"), (4, "gunicorn.conf.py:5"))
    kept = "a connection per thread: CONN_MAX_AGE 60 (kept), proj/settings.py:21"
    assert web.pools == (Pool(database="default", kind="django-per-thread", size=Setting(value=4, source=kept)),
                         REPORTS)  # 'scratch' is SQLite: not counted
    # per web process: default 4 (one per thread) + reports max(2, min(4, 4)) = 4 -> 8; a dyno of 3: 24 (worst 24)

    # worker: celery prefork --concurrency 8 -> 8 child processes of 1 thread
    worker = types["worker"]
    assert (worker.role, worker.server) == ("worker", "celery")
    assert figures(worker) == ((8, "Procfile worker: --concurrency"), (1, "celery prefork: 1 thread per child process"))
    assert worker.pools == (Pool(database="default", kind="django-per-thread", size=Setting(value=1, source=kept)),
                            REPORTS)
    # per child: 1 + max(2, min(1, 4)) = 3 (worst 1 + 4 = 5); a dyno of 8: 24 (worst 40)
    # Redis (CELERY_BROKER_URL's default redis://, no result backend): per child 0 .. 1 (a task sending a task),
    # the main process beside it 4 .. 8 (tests/test_check_python_servers.py has the figures)
    assert [u.what for u in worker.redis] == ["Celery child"]
    assert [b.name for b in worker.beside] == ["worker (celery main)"]

    release = types["release"]
    assert (release.role, release.server, release.command) == ("release", "manage.py",
                                                               "python manage.py migrate --noinput")
    assert figures(release) == ((1, "release: 1 process"), (1, "release: 1 thread"))
    # 1 + max(2, min(1, 4)) = 3 while it runs (the pool opens min_size 2)


def test_django_celery_env_overrides() -> None:
    app = read_python(APPS / "django-celery", env={"WEB_CONCURRENCY": "5", "CONN_MAX_AGE": "0"}, flags={})
    web = by_name(app)["web"]
    assert figures(web)[0] == (5, "env WEB_CONCURRENCY (gunicorn.conf.py:4)")
    assert web.pools[0].size == Setting(value=4, source="a connection per thread: CONN_MAX_AGE 0 (closed after each "
                                        "request), env CONN_MAX_AGE (proj/settings.py:21)")
    # 5 processes x 8 = 40 per dyno
    assert app.problems == ()


def test_django_celery_flags_win() -> None:
    flags = {"web.processes": 2, "web.threads": 8, "worker.processes": 3, "web.pool": 6}
    app = read_python(APPS / "django-celery", env={"WEB_CONCURRENCY": "5"}, flags=flags)
    types = by_name(app)
    web, worker = types["web"], types["worker"]
    assert figures(web) == ((2, "flag --set web.processes"), (8, "flag --set web.threads"))
    assert web.pools[0].size.value == 8  # a connection per thread: the flagged 8
    assert web.pools[1].size == Setting(value=6, source="flag --set web.pool")  # the pool's max_size
    assert web.pools[1].min_size == REPORTS.min_size
    # per web process: 8 + max(2, min(8, 6)) = 14; 2 processes: 28 per dyno
    assert figures(worker)[0] == (3, "flag --set worker.processes")
    assert worker.pools[1] == REPORTS  # web.pool is web's alone
    assert app.problems == ()


# -- flask-sqlalchemy ----------------------------------------------------------------------------------------------

SQLALCHEMY_UNREAD = ("requirements.txt: SQLAlchemy's pool (create_engine pool_size, max_overflow) is not read from "
                     "the code")


def test_flask_sqlalchemy_settings_and_sources() -> None:
    app = read_python(APPS / "flask-sqlalchemy", env={}, flags={})
    assert app.framework == "flask"
    assert app.versions == {"gunicorn": "23.0.0", "sqlalchemy": "2.0.36", "flask": "3.1.0",
                            "flask-sqlalchemy": "3.1.1", "rq": "2.0.0", "psycopg2": "2.9.10"}
    types = by_name(app)
    default = Pool(database="default", kind="sqlalchemy",  # unknown, not QueuePool's 5 + 10 assumed
                   size=unknown(source=f"{SQLALCHEMY_UNREAD}: pool_size", fix="--set sqlalchemy.pool_size=N"),
                   overflow=unknown(source=f"{SQLALCHEMY_UNREAD}: max_overflow", fix="--set sqlalchemy.max_overflow=N"))
    web = types["web"]  # gunicorn -w 4 --threads 2: no gunicorn.conf.py
    assert (web.role, web.server) == ("web", "gunicorn")
    assert figures(web) == ((4, "Procfile web: -w"), (2, "Procfile web: --threads"))
    assert web.pools == (default,)
    # per process at least min(2, 1 + 1) = 2 (worst >= 2): incomplete until the flags give the pool
    worker = types["worker"]  # rq worker
    assert (worker.role, worker.server) == ("worker", "rq")
    assert figures(worker) == ((1, "rq worker: 1 process"), (1, "rq: 1 thread (a work horse forked per job)"))
    assert worker.pools == (default,)  # min(1, 1 + 1) = 1 at least
    assert [p.line() for p in app.problems] == []  # the unknown figures carry it


def test_flask_sqlalchemy_flags() -> None:
    flags = {"sqlalchemy.pool_size": 2, "sqlalchemy.max_overflow": 0, "web.pool": 3}
    app = read_python(APPS / "flask-sqlalchemy", env={}, flags=flags)
    web, worker = by_name(app)["web"], by_name(app)["worker"]
    assert (web.pools[0].size, web.pools[0].overflow) == (Setting(value=3, source="flag --set web.pool"),
                                                          Setting(value=0, source="flag --set sqlalchemy.max_overflow"))
    assert worker.pools[0].size == Setting(value=2, source="flag --set sqlalchemy.pool_size")
    # web: min(2, 3 + 0) = 2 per process, worst 3; worker: min(1, 2) = 1, worst 2
    assert app.problems == ()


# -- python-broken -------------------------------------------------------------------------------------------------

BROKEN_PROBLEMS = [
    "Procfile:5: 'this line is not a process type' is not `name: command`; left out; write it as `name: command`",
    "Procfile:3: clock: `python clock.py` is not a server connlab reads: counted as a one-off (1 process, 1 thread, "
    "at most 1 connection per database); --set clock.processes=N if it runs more than one",
    "broken/settings.py:7: DATABASES not read (`build_databases(os.environ)` is not read without running it): the "
    "connections per process are unknown (counted at 1); --set TYPE.pool=N for each process type (the connections "
    "one process holds: its threads without OPTIONS['pool'], the pool's max_size with one)",
]


def test_broken_app_gives_the_problem_lines_and_no_exception() -> None:
    app = read_python(APPS / "python-broken", env={}, flags={})
    assert [p.line() for p in app.problems] == BROKEN_PROBLEMS
    types = by_name(app)
    assert [(p.name, p.role, p.server) for p in app.process_types] == [
        ("web", "web", "gunicorn"), ("worker", "worker", "celery"), ("clock", "oneoff", "unknown"),
        ("api", "web", "uvicorn")]
    # the config raised: gunicorn would not start, so its settings are unknown (not gunicorn's defaults)
    raised = "gunicorn.conf.py raised KeyError: 'WEB_CONCURRENCY'"
    assert (types["web"].processes, types["web"].threads) == (
        unknown(source=raised, fix="--env WEB_CONCURRENCY=VALUE, or --set web.processes=N"),
        unknown(source=raised, fix="--env WEB_CONCURRENCY=VALUE, or --set web.threads=N"))
    assert types["worker"].processes == unknown(
        source="Procfile:2 worker: celery worker without --concurrency starts one child process per CPU of the dyno",
        fix="add --concurrency N, or --set worker.processes=N")
    # uvicorn --workers 2 on a Django app: ASGI, a connection per request in flight
    assert types["api"].processes == Setting(value=2, source="Procfile api: --workers")
    assert types["api"].threads.missing == "--set api.threads=N (requests in flight per process)"
    # DATABASES built by a function: each process's connections are unknown (a pool of 1, the least)
    assert types["web"].pools == (Pool(database="default", kind="held", size=unknown(
        source="broken/settings.py:7: DATABASES not read (a connection per thread without OPTIONS['pool'], the "
        "pool's max_size with one)", fix="--set web.pool=N (the connections one process holds)")),)
    assert app.versions == {}  # nothing pinned with ==


def test_broken_app_with_the_env_and_flags_it_asks_for() -> None:
    app = read_python(APPS / "python-broken", env={"WEB_CONCURRENCY": "2"}, flags={"worker.processes": 4,
                                                                                   "web.pool": 2})
    web, worker = by_name(app)["web"], by_name(app)["worker"]
    assert figures(web) == ((2, "env WEB_CONCURRENCY (gunicorn.conf.py:4)"), (2, "gunicorn.conf.py:5"))
    assert figures(worker)[0] == (4, "flag --set worker.processes")
    # --set web.pool=2: the connections each web process holds, 2 x 2 per dyno; the worker's are still unknown
    assert web.pools == (Pool(database="default", kind="held", size=Setting(value=2, source="flag --set web.pool")),)
    assert worker.pools[0].size.missing == "--set worker.pool=N (the connections one process holds)"
    lines = [p.line() for p in app.problems]
    assert lines == BROKEN_PROBLEMS


def test_each_read_finds_its_process_types_and_prints_its_time() -> None:
    """The read's time is a figure printed (``-s``), not an assertion."""
    for name in ("django-celery", "flask-sqlalchemy", "python-broken"):
        started = time.perf_counter()
        app = read_python(APPS / name, env={}, flags={})
        elapsed = time.perf_counter() - started
        print(f"{name}: {elapsed * 1000:.0f} ms")
        assert app.process_types, name


# -- gunicorn ------------------------------------------------------------------------------------------------------


def test_gunicorn_command_line_wrappers_env_and_gevent(tmp_path: Path) -> None:
    write(tmp_path, {
        "Procfile": "web: WEB_CONCURRENCY=3 newrelic-admin run-program gunicorn --workers=$WEB_CONCURRENCY -k gevent "
                    "--worker-connections 50 app:app\n"
                    "api: bin/start-pgbouncer gunicorn -c conf/api.py -w ${API_WORKERS:-2} app:api\n",
        "conf/api.py": "workers = 9\nthreads = 3\n",
        "requirements.txt": "flask\nsqlalchemy\n",
    })
    app = read_python(tmp_path, env={"GUNICORN_CMD_ARGS": "--threads 5"}, flags={"sqlalchemy.pool_size": 5,
                                                                                 "sqlalchemy.max_overflow": 0})
    web, api = by_name(app)["web"], by_name(app)["api"]
    assert figures(web) == ((3, "env WEB_CONCURRENCY (Procfile web: --workers)"),
                            (50, "Procfile web: --worker-connections: gevent, a greenlet per connection"))
    # the command line over the config file, GUNICORN_CMD_ARGS over the config file
    assert figures(api) == ((2, "Procfile api: -w"), (5, "env GUNICORN_CMD_ARGS (--threads)"))
    assert [p.line() for p in app.problems] == [
        "Procfile:2: api runs behind pgbouncer on the dyno: Postgres sees pgbouncer's pool, not these connections; "
        "the figures are the app's side; pgbouncer's default_pool_size bounds Postgres's"]


def test_gunicorn_config_runs_apart_with_only_the_env_given(tmp_path: Path) -> None:
    write(tmp_path, {
        "Procfile": "web: gunicorn app:app\n",
        "settings_pkg/__init__.py": "WORKERS = 6\n",
        "gunicorn.conf.py": "import os\nprint('hello from the config')\nfrom settings_pkg import WORKERS\n"
                            "workers = WORKERS\nthreads = 2 if 'PATH' in os.environ else 3\nworker_class = 'gthread'\n",
    })
    app = read_python(tmp_path, env={}, flags={"sqlalchemy.pool_size": 1})
    # the app's own package imports; connlab's PATH is not in the config's os.environ
    assert figures(by_name(app)["web"]) == ((6, "gunicorn.conf.py:4"), (3, "gunicorn.conf.py:5"))


@pytest.mark.parametrize(("config", "what"), [
    ("while True:\n    pass\n", "did not finish in 0.5 s"),
    ("import sys\nsys.exit(3)\n", "raised SystemExit: 3"),
    ("import os\nos._exit(4)\n", "exited with code 4 without its settings"),
    ("workers = 'many'\n", None),
])
def test_gunicorn_config_that_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str,
                                    what: str | None) -> None:
    monkeypatch.setattr(reader, "TIMEOUT_S", 0.5)
    write(tmp_path, {"Procfile": "web: gunicorn app:app\n", "gunicorn.conf.py": config})
    started = time.perf_counter()
    app = read_python(tmp_path, env={}, flags={"sqlalchemy.pool_size": 1})
    assert time.perf_counter() - started < 3
    # gunicorn would not start on this config: its workers are unknown (not gunicorn's default of 1)
    expected = f"gunicorn.conf.py {what}" if what else "gunicorn.conf.py:1 workers 'many' is not a number"
    assert by_name(app)["web"].processes == unknown(source=expected, fix="--set web.processes=N")
    assert app.problems == ()


def test_gunicorn_cpu_count_and_unknown_worker_class(tmp_path: Path) -> None:
    write(tmp_path, {
        "Procfile": "web: gunicorn -k uvicorn.workers.UvicornWorker app:app\n",
        "gunicorn.conf.py": "import multiprocessing\n\nworkers = multiprocessing.cpu_count() * 2 + 1\n",
    })
    app = read_python(tmp_path, env={}, flags={"sqlalchemy.pool_size": 1})
    web = by_name(app)["web"]
    assert web.processes.source.startswith("unknown: gunicorn.conf.py:3 workers from this machine's CPU count (")
    assert web.processes.missing == "--set web.processes=N"
    # UvicornWorker: ASGI, a connection per request in flight, unknown until --set web.threads=N
    assert web.threads == unknown(source="gunicorn -k uvicorn.workers.UvicornWorker (ASGI): a connection per request "
                                  "in flight, which no thread count bounds",
                                  fix="--set web.threads=N (requests in flight per process)")
    assert app.problems == ()


# -- workers -------------------------------------------------------------------------------------------------------


def test_worker_commands(tmp_path: Path) -> None:
    write(tmp_path, {
        "Procfile": "threads: celery -A proj worker -P threads -c ${CELERY_C:-6}\n"
                    "auto: python -m celery --app=proj worker --autoscale=10,3\n"
                    "solo: celery -A proj worker --pool=solo\n"
                    "beat: celery -A proj beat\n"
                    "pool: rq worker-pool -n 3 default\n"
                    "dq: dramatiq app.tasks --processes 2 --threads 4\n",
        "requirements.txt": "sqlalchemy==2.0.1\n",
    })
    app = read_python(tmp_path, env={}, flags={"sqlalchemy.pool_size": 5, "sqlalchemy.max_overflow": 0})
    assert app.framework == "python"
    rows = {p.name: (p.role, p.server, p.processes.value, p.threads.value) for p in app.process_types}
    assert rows == {"threads": ("worker", "celery", 1, 6), "auto": ("worker", "celery", 10, 1),
                    "solo": ("worker", "celery", 1, 1), "beat": ("oneoff", "celery", 1, 1),
                    "pool": ("worker", "rq", 3, 1), "dq": ("worker", "dramatiq", 2, 4)}
    types = by_name(app)
    assert types["threads"].threads.source == "Procfile threads: -c"
    assert types["auto"].processes.source == "Procfile auto: --autoscale (its maximum)"
    assert types["pool"].processes.source == "Procfile pool: -n"
    assert app.problems == ()
    assert app.versions == {"sqlalchemy": "2.0.1"}


# -- Django settings -----------------------------------------------------------------------------------------------

SPLIT_SETTINGS = {
    "Procfile": "web: gunicorn --threads 3 site.wsgi\nworker: celery -A site worker\n",
    "manage.py": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site.settings.dev')\n",
    "site/__init__.py": "",
    "site/settings/__init__.py": "",
    "site/settings/base.py": "import dj_database_url\nfrom decouple import config\n\n"
                             "DATABASES = {'default': dj_database_url.config(conn_max_age=config('AGE', default=600, "
                             "cast=int))}\nCELERY_WORKER_CONCURRENCY = 5\n",
    "site/settings/production.py": "import os\nfrom .base import *  # noqa\n\n"
                                   "DATABASES['default']['CONN_MAX_AGE'] = 0\n"
                                   "DATABASES['default']['OPTIONS'] = {'pool': True}\n"
                                   "DATABASES['legacy'] = {'ENGINE': 'django.db.backends.mysql'}\n"
                                   "if os.environ.get('REPLICA_URL'):\n"
                                   "    DATABASES['replica'] = dj_database_url.parse(os.environ['REPLICA_URL'])\n"
                                   "try:\n    from .local import *  # noqa\nexcept ImportError:\n"
                                   "    DATABASES['default']['CONN_MAX_AGE'] = 30\n",
    "uv.lock": 'version = 1\n[[package]]\nname = "django"\nversion = "5.2.1"\n\n[[package]]\nname = "psycopg"\n'
               'version = "3.2.9"\n',
    "requirements.txt": "Django==5.1.0\n",
}


def test_django_split_settings_url_and_native_pool_defaults(tmp_path: Path) -> None:
    write(tmp_path, SPLIT_SETTINGS)
    env = {"DJANGO_SETTINGS_MODULE": "site.settings.production", "DATABASE_URL": "postgres://u@db/shop"}
    app = read_python(tmp_path, env=env, flags={})
    assert app.versions == {"django": "5.2.1", "psycopg": "3.2.9"}  # the lock over the requirements pin
    web, worker = by_name(app)["web"], by_name(app)["worker"]
    # OPTIONS pool True: psycopg_pool's ConnectionPool(min_size=4, max_size=None -> 4); mysql 'legacy' left out
    pool = "site/settings/production.py:5 pool"
    assert web.pools == (Pool(database="default", kind="django-pool", size=Setting(
        value=4, source=f"default (psycopg_pool: max_size = min_size 4; {pool})"), min_size=Setting(
        value=4, source=f"default (psycopg_pool: min_size 4; {pool})")),)
    # per web process max(4, min(3, 4)) = 4; per worker child max(4, min(1, 4)) = 4
    assert figures(worker)[0] == (5, "site/settings/base.py:5 CELERY_WORKER_CONCURRENCY")
    assert [p.line() for p in app.problems] == [
        "site/settings/production.py:12: DATABASES changed in a block connlab does not follow (if, try, for, with); "
        "the figures use the assignments outside it"]

    with_replica = read_python(tmp_path, env={**env, "REPLICA_URL": "postgresql://r/shop", "AGE": "5"}, flags={})
    assert [p.database for p in by_name(with_replica)["web"].pools] == ["default", "replica"]
    assert by_name(with_replica)["web"].pools[1].size.source == "a connection per thread: CONN_MAX_AGE 0 (closed " \
        "after each request), site/settings/production.py:8"


def test_django_settings_module_not_found_and_url_not_given(tmp_path: Path) -> None:
    write(tmp_path, SPLIT_SETTINGS)
    app = read_python(tmp_path, env={}, flags={"web.pool": 9})  # manage.py names site.settings.dev: not there
    assert by_name(app)["worker"].processes.missing == "add --concurrency N, or --set worker.processes=N"
    assert [p.line() for p in app.problems] == [  # --set web.pool=9 gives the web's connections per process
        "manage.py:2: settings module site.settings.dev not found in the app: the connections per process are unknown "
        "(counted at 1); give the production one with --env DJANGO_SETTINGS_MODULE=proj.settings, or --set "
        "TYPE.pool=N for each process type (the connections one process holds: its threads without OPTIONS['pool'], "
        "the pool's max_size with one)"]
    assert by_name(app)["web"].pools[0].size == Setting(value=9, source="flag --set web.pool")

    base = read_python(tmp_path, env={"DJANGO_SETTINGS_MODULE": "site.settings.base"}, flags={})
    assert [p.line() for p in base.problems] == [  # CELERY_WORKER_CONCURRENCY = 5 gives the worker's concurrency
        "site/settings/base.py:4: DATABASES['default'] ENGINE not read (dj_database_url.config: env DATABASE_URL not "
        "given); assumed PostgreSQL (give the env it reads: --env DATABASE_URL=postgres://...)"]
    web = by_name(base)["web"]
    assert web.pools == (Pool(database="default", kind="django-per-thread", size=Setting(
        value=3, source="a connection per thread: CONN_MAX_AGE 600 (kept), site/settings/base.py:4")),)


def test_django_pool_refused_with_conn_max_age(tmp_path: Path) -> None:
    write(tmp_path, {
        "Procfile": "web: gunicorn app.wsgi\n",
        "manage.py": "",
        "app/settings.py": "import environ\nenv = environ.Env()\nDATABASES = {'default': {\n"
                           "    'ENGINE': 'django.db.backends.postgresql',\n"
                           "    'CONN_MAX_AGE': env.int('CONN_MAX_AGE', default=30),\n"
                           "    'OPTIONS': {'pool': {'min_size': 6, 'max_size': 3}},\n}}\n",
    })
    app = read_python(tmp_path, env={}, flags={"web.nonsense": 1, "db.threads": 2})
    assert [p.line() for p in app.problems] == [
        "app/settings.py:6: DATABASES['default'] pool max_size 3 < min_size 6: psycopg_pool refuses it (ValueError); "
        "make max_size >= min_size",
        "app/settings.py:5: DATABASES['default'] has OPTIONS['pool'] with CONN_MAX_AGE 30: Django refuses it "
        "(\"Pooling doesn't support persistent connections.\"); set CONN_MAX_AGE to 0 with a pool",
        "--set web.nonsense: not a setting of this app; use <type>.processes, .threads, .pool or .cache_pool for a "
        "type of the Procfile (web), or sqlalchemy.pool_size, sqlalchemy.max_overflow",
        "--set db.threads: not a setting of this app; use <type>.processes, .threads, .pool or .cache_pool for a "
        "type of the Procfile (web), or sqlalchemy.pool_size, sqlalchemy.max_overflow",
    ]
    assert app.framework == "django"  # manage.py, no requirements


def test_no_procfile(tmp_path: Path) -> None:
    # no Procfile, foreman, Kamal nor compose: the Dockerfile's CMD (shell form) is the web, and says so
    write(tmp_path, {"pyproject.toml": '[project]\nname = "x"\ndependencies = ["flask", "gunicorn==23.0.0"]\n',
                     "Dockerfile": "FROM python:3.12-slim\nCMD gunicorn app:app\n"})
    app = read_python(tmp_path, env={"WEB_CONCURRENCY": "4"}, flags={})
    assert app.framework == "flask" and app.versions == {"gunicorn": "23.0.0"}
    assert [(p.name, p.processes.value, p.processes.source) for p in app.process_types] == [
        ("web", 4, "env WEB_CONCURRENCY")]
    # no ORM found: the database use is unknown (not "none"), until the flags say (0 and 0: it opens none)
    why = "pyproject.toml: neither Django nor SQLAlchemy found, so the database connections are not known (0 and 0: " \
        "it opens none)"
    assert app.process_types[0].pools == (Pool(
        database="default", kind="sqlalchemy",
        size=unknown(source=f"{why}: pool_size", fix="--set sqlalchemy.pool_size=N"),
        overflow=unknown(source=f"{why}: max_overflow", fix="--set sqlalchemy.max_overflow=N")),)
    assert [p.line() for p in app.problems] == [
        "Dockerfile: process types from here, no Procfile: web (Dockerfile:2; via sh -c); connlab reads the first of: "
        "Procfile; "
        "a Procfile.* named by `foreman start -f` (bin/*, script/*, *.sh, Dockerfile); config/deploy.yml (Kamal); "
        "docker-compose.yml / compose.yaml / (docker-)compose.*.yml; the Dockerfile's CMD; systemd units (*.service, "
        "ExecStart)"]
    none = read_python(tmp_path, env={}, flags={"sqlalchemy.pool_size": 0, "sqlalchemy.max_overflow": 0})
    assert [(p.size.value, p.size.missing, p.overflow.value if p.overflow else None)
            for p in none.process_types[0].pools] == [(0, "", 0)]
    # nothing at all (gunicorn in the dependencies is no launcher): no process type, incomplete, naming the places
    (tmp_path / "Dockerfile").unlink()
    nothing = read_python(tmp_path, env={}, flags={})
    assert nothing.process_types == ()
    assert [p.line() for p in nothing.problems if p.incomplete] == [
        "Procfile: no process type found (looked at: Procfile; a Procfile.* named by `foreman start -f` (bin/*, "
        "script/*, *.sh, Dockerfile); config/deploy.yml (Kamal); docker-compose.yml / compose.yaml / "
        "(docker-)compose.*.yml; the Dockerfile's CMD; systemd units (*.service, ExecStart)): nothing could be "
        "counted; add a Procfile (`web: gunicorn "
        "proj.wsgi`, `worker: ...`)"]

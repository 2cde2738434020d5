"""Read a Python app's folder (Django, Flask, plain Python) into an ``AppConfig``.

The process types come from the app's launcher (``launchers``: a Procfile first). What a file does not say, and
no framework default supplies, is ``unknown`` (``model.unknown``: counted at its least, the result incomplete) with
the flag that supplies it; a documented default (gunicorn's 1 worker, uvicorn's, uWSGI's, granian's 1) counts:

* ``gunicorn``: processes = workers, threads = threads, as gunicorn settles them: its command line, then
  ``GUNICORN_CMD_ARGS``, then the config file (``-c FILE``, else ``./gunicorn.conf.py``), then its defaults
  (workers = env ``WEB_CONCURRENCY`` else 1, threads 1, the sync worker; threads > 1 makes it gthread; gevent and
  eventlet run a greenlet per connection: threads = ``worker_connections``, default 1000). The config file is
  Python: it runs as gunicorn runs it, in a process of its own (``gunicorn_eval.py``, in ``gunicorn_config``'s
  sandbox: as root as the unprivileged user on a copy of the app) with only the env given, stopped after
  ``TIMEOUT_S``; with ``--no-eval`` only its literal assignments are read. One that raises (or is missing) stops
  gunicorn, so what it would set is unknown, not gunicorn's defaults; so are workers from ``cpu_count()`` (the
  build machine's), a worker class connlab does not know, and ``-k uvicorn.workers.UvicornWorker`` /
  ``uvicorn_worker.UvicornWorker`` (ASGI: below).
* uvicorn, uWSGI (and its ``attach-daemon`` commands: process types beside the web, once per dyno), granian,
  hypercorn, daphne and django-rq's ``manage.py rqworker``: ``py_servers`` (and why an ASGI process holds a
  connection per request in flight, which no thread count bounds: unknown until ``--set TYPE.threads=N`` or the
  server's own limit, ``--limit-concurrency`` / ``--backpressure``; a kept connection under ASGI is not reused: a
  session per request, with a note). ``manage.py celery worker`` / ``celeryd`` / ``celerybeat`` (django-celery)
  and ``manage.py rundramatiq`` (django_dramatiq) are read as the workers they run.
* ``celery ... worker``: ``--concurrency``/``-c`` (or ``--autoscale MAX,MIN``, or ``CELERY_WORKER_CONCURRENCY`` /
  ``CELERYD_CONCURRENCY`` in Django's settings; one there that is not read: unknown); prefork (the default pool)
  is N child processes of 1 thread, ``--pool threads|gevent|eventlet`` one process of N, ``solo`` one of 1.
  Without a concurrency Celery starts one child per CPU of the dyno: unknown. ``celery beat``: one process, one
  thread (counted as a one-off).
* ``rq worker``: 1 process, 1 thread (a work horse forked per job); ``rq worker-pool -n N``: N.
  ``dramatiq``: ``--processes`` (default: one per CPU: unknown) x ``--threads`` (default 8).
* ``release``: the release phase (role release); a ``web`` that is not a server connlab reads: processes and
  threads unknown; anything else: a one-off, 1 process of 1 thread (a note says it was not understood).

Pools per process, every process type connecting to every database: Django's ``DATABASES`` (``django_db``, the
settings module found where manage.py, wsgi.py, ``--chdir``, uwsgi's ``chdir`` or ``cd DIR &&`` put it; a
``DATABASES`` not read: each process's connections unknown until ``--set TYPE.pool=N``), or for a
Flask / SQLAlchemy app one ``sqlalchemy`` pool whose size is not read from the code: unknown until ``--set
sqlalchemy.pool_size=N --set sqlalchemy.max_overflow=N``. An app with neither Django nor SQLAlchemy: the same
unknown pool (0 and 0 say it opens no connection). Flags ``--set <type>.processes|threads|pool=N`` win over
everything (``pool``: the SQLAlchemy pool_size, the Django pool's max_size of that type, or the connections
one process holds when ``DATABASES`` was not read). Redis, per process:
``py_redis`` (Celery's broker and result backend, RQ, dramatiq, django-redis and Django's RedisCache), with the
formulas of ``harness.kinds``. No process type at all: a problem that makes the result incomplete.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.check.django_db import DjangoApp, read_django
from harness.check.django_settings import Unknown, dotted, env_names
from harness.check.gunicorn_config import EVAL_SCRIPT, Configs, NotLiteral, assignments
from harness.check.launchers import LOOKED
from harness.check.model import AppConfig, Pool, Problem, ProcessType, Role, Setting, unknown
from harness.check.py_procfile import Command, _program, options, procfile, split
from harness.check.py_redis import read_uses, redis_for
from harness.check.py_servers import ASGI_WORKERS, in_flight, number, read_server
from harness.check.pydeps import read_deps, versions
from harness.check.wrappers import expand

TIMEOUT_S = 5.0  # for gunicorn.conf.py to run
_EVAL = EVAL_SCRIPT  # gunicorn_eval.py, run in a sandbox (gunicorn_config)
_GUNICORN = {"-w": "workers", "--workers": "workers", "--threads": "threads", "-k": "worker_class",
             "--worker-class": "worker_class", "--worker-connections": "worker_connections", "-c": "config",
             "--config": "config"}
_CELERY = {"-c": "concurrency", "--concurrency": "concurrency", "-P": "pool", "--pool": "pool",
           "--autoscale": "autoscale"}


@dataclass
class _Read:
    app_dir: Path
    env: Mapping[str, str]
    flags: Mapping[str, int]
    django: DjangoApp | None
    configs: Configs  # gunicorn config files, evaluated (or read literally with --no-eval) once each
    problems: list[Problem] = field(default_factory=list)
    asgi: set[str] = field(default_factory=set)  # process types served by an ASGI server
    daemons: dict[str, list[Command]] = field(default_factory=dict)  # a type -> uwsgi attach-daemon commands
    asgi_kept: set[str] = field(default_factory=set)  # database aliases noted: CONN_MAX_AGE > 0 under ASGI


def _cli_setting(cmd: Command, found: tuple[int, str, str], fix: str, problems: list[Problem]) -> Setting:
    """A number from the command line (``py_servers.number``: its source naming the env variable it was expanded
    from; not a number: unknown, naming the variable not given and the flag)."""
    setting = number(cmd, found, fix, problems)
    assert setting is not None  # found is given
    return setting


_FIELD = {"workers": "processes", "threads": "threads", "worker_class": "threads", "worker_connections": "threads"}


def _not_literal(shown: str, found: NotLiteral, name: str, field_name: str) -> Setting:
    return unknown(source=f"{shown}:{found.line}: `{found.code}` not evaluated (--no-eval)",
                   fix=f"run without --no-eval on code you trust, or --set {name}.{field_name}=N")


def _gunicorn(cmd: Command, read: _Read) -> tuple[Setting, Setting]:
    problems, name = read.problems, cmd.name
    failure = ""  # the config file that gunicorn would not get past: its settings are unknown
    cli = options(cmd.args, _GUNICORN)
    from_env = options(split(cmd.env.get("GUNICORN_CMD_ARGS", "")) or [], _GUNICORN)
    chosen = cli.get("config") or from_env.get("config")
    config: Path | None = read.app_dir / cmd.cwd / "gunicorn.conf.py"  # gunicorn reads ./gunicorn.conf.py
    if chosen is not None:
        location = chosen[1].removeprefix("file:")
        if location.startswith("python:"):
            location = location.removeprefix("python:").replace(".", "/") + ".py"
        config = read.app_dir / cmd.cwd / location
        if not config.is_file():
            failure = f"{cmd.at} {name}: gunicorn config {location} not found"
            config = None
    elif config is not None and not config.is_file():
        config = None
    settings = read.configs.settings(config, cmd.env, timeout=TIMEOUT_S) if config is not None else None
    if config is not None and settings is None:
        failure = read.configs.failure(config, cmd.env)
    hint = re.search(r"raised KeyError: '([A-Z][A-Z0-9_]*)'", failure)
    env_hint = f"--env {hint.group(1)}=VALUE, or " if hint else ""
    lines = assignments(config) if config is not None and settings is not None else {}
    shown = str(config.relative_to(read.app_dir)) if config is not None and config.is_relative_to(read.app_dir) \
        else str(config)
    values: dict[str, tuple[Any, str]] = {}
    for setting in ("workers", "threads", "worker_class", "worker_connections"):
        if setting in cli:
            values[setting] = (cli[setting][1], "cli")
        elif setting in from_env:
            values[setting] = (from_env[setting][1], f"env GUNICORN_CMD_ARGS ({from_env[setting][2]})")
        elif settings is not None and setting in settings:
            node = lines.get(setting)
            at = f"{shown}:{node.lineno}" if node is not None else shown
            used = env_names(node, cmd.env) if node is not None else []
            values[setting] = (settings[setting], f"env {used[0]} ({at})" if used else at)
            if isinstance(settings[setting], NotLiteral):  # --no-eval
                values[setting] = (_not_literal(shown, settings[setting], name, _FIELD[setting]), at)
            elif setting == "workers" and node is not None and any(
                    isinstance(n, ast.Call) and dotted(n.func).endswith("cpu_count") for n in ast.walk(node)):
                values[setting] = (unknown(source=f"{at} workers from this machine's CPU count "
                                           f"({settings[setting]} here), not the dyno's",
                                           fix=f"--set {name}.processes=N"), at)

    def number(setting: str, default: Setting, flag: str) -> Setting:
        if setting not in values:
            if failure:
                return unknown(source=failure, fix=f"{env_hint}--set {name}.{flag}=N")
            return default
        value, source = values[setting]
        if isinstance(value, Setting):
            return value
        if source == "cli":
            return _cli_setting(cmd, cli[setting], f"--set {name}.{flag}=N", problems)
        try:
            return Setting(value=value if isinstance(value, int) else int(str(value), 0), source=source)
        except ValueError:
            return unknown(source=f"{source} {setting} {value!r} is not a number", fix=f"--set {name}.{flag}=N")

    web_concurrency = cmd.env.get("WEB_CONCURRENCY", "")
    default_workers = Setting(value=int(web_concurrency), source="env WEB_CONCURRENCY") \
        if web_concurrency.isdigit() else Setting(value=1, source="default (gunicorn: 1 worker)")
    workers = number("workers", default_workers, "processes")
    if isinstance(values.get("worker_class", ("sync", ""))[0], Setting):  # --no-eval: which worker, not known
        return workers, values["worker_class"][0]
    worker_class = str(values.get("worker_class", ("sync", ""))[0])
    kind = worker_class.rsplit(".", 1)[-1].lower()
    if kind in ASGI_WORKERS:
        read.asgi.add(name)
        threads = in_flight(name, f"gunicorn -k {worker_class}")
    elif failure and "worker_class" not in values:
        threads = number("threads", Setting(value=1, source=""), "threads")
    elif "gevent" in kind or "eventlet" in kind:
        connections = number("worker_connections", Setting(value=1000, source="default (gunicorn: 1000 "
                                                                              "worker_connections)"), "threads")
        threads = Setting(value=connections.value, source=f"{connections.source}: {kind}, a greenlet per connection")
    else:
        threads = number("threads", Setting(value=1, source="default (gunicorn: 1 thread, sync worker)"), "threads")
        if kind not in ("sync", "syncworker", "gthread", "threadworker"):
            at = f"{cmd.at}" if values["worker_class"][1] == "cli" else values["worker_class"][1]
            threads = unknown(source=f"{at} {name}: worker class {worker_class} not known to connlab (requests at "
                              "once per process)", fix=f"--set {name}.threads=N")
    return workers, threads


def _worker(cmd: Command, read: _Read) -> tuple[str, Role, Setting, Setting] | None:
    """(server, role, processes, threads) of celery, rq and dramatiq lines; None for a command not known."""
    name, where = cmd.name, f"{cmd.at}"
    if cmd.program == "rq" and cmd.args[:1] not in (["worker"], ["worker-pool"]):
        return None
    if cmd.program == "rq":
        if cmd.args[:1] == ["worker-pool"]:
            given = options(cmd.args, {"-n": "n", "--num-workers": "n"}).get("n")
            count = _cli_setting(cmd, given, f"--set {name}.processes=N", read.problems) if given else None
            return "rq", "worker", count or Setting(value=1, source="default (rq worker-pool: 1 worker)"), \
                Setting(value=1, source="rq: 1 thread (a work horse forked per job)")
        return "rq", "worker", Setting(value=1, source="rq worker: 1 process"), \
            Setting(value=1, source="rq: 1 thread (a work horse forked per job)")
    if cmd.program == "dramatiq":
        found = options(cmd.args, {"-p": "p", "--processes": "p", "-t": "t", "--threads": "t"})
        threads = _cli_setting(cmd, found["t"], f"--set {name}.threads=N", read.problems) if "t" in found \
            else None
        processes = _cli_setting(cmd, found["p"], f"--set {name}.processes=N", read.problems) if "p" in found \
            else None
        django = "rundramatiq" in cmd.text  # django_dramatiq's: DRAMATIQ_NPROCS / DRAMATIQ_NTHREADS
        for variable, flag in (("DRAMATIQ_NPROCS", "processes"), ("DRAMATIQ_NTHREADS", "threads")):
            text = cmd.env.get(variable, "") if django else ""
            if text and (processes if flag == "processes" else threads) is None:
                from_env = Setting(value=int(text), source=f"env {variable}") if text.isdigit() else unknown(
                    source=f"env {variable}={text!r} is not a number", fix=f"--set {name}.{flag}=N")
                processes, threads = (from_env, threads) if flag == "processes" else (processes, from_env)
        return "dramatiq", "worker", processes or unknown(
            source=f"{where} {name}: {'rundramatiq' if django else 'dramatiq'} without --processes starts one per "
                   "CPU of the dyno", fix=f"add --processes N, or --set {name}.processes=N"), \
            threads or Setting(value=8, source=f"default ({'django_dramatiq' if django else 'dramatiq'}: 8 threads)")
    if "worker" not in cmd.args:
        if "beat" not in cmd.args:
            return None
        return "celery", "oneoff", Setting(value=1, source="celery beat: 1 process"), \
            Setting(value=1, source="celery beat: 1 thread")
    found = options(cmd.args, _CELERY)
    pool = found["pool"][1] if "pool" in found else "prefork"
    threaded = pool in ("threads", "gevent", "eventlet")
    flag = f"{name}.threads" if threaded else f"{name}.processes"
    concurrency = None
    if "concurrency" in found:
        concurrency = _cli_setting(cmd, found["concurrency"], f"--set {flag}=N", read.problems)
    elif "autoscale" in found:
        _, value, spelling = found["autoscale"]
        top = value.split(",")[0]
        concurrency = Setting(value=int(top), source=f"{cmd.called}: {spelling} (its maximum)") \
            if top.isdigit() else None
    elif read.django is not None and (named := next((n for n in ("CELERY_WORKER_CONCURRENCY", "CELERYD_CONCURRENCY")
                                                     if read.django.setting(n) is not None), None)):
        read_value, at = read.django.setting(named) or (None, "")
        if isinstance(read_value, int) and not isinstance(read_value, bool) and read_value > 0:
            concurrency = Setting(value=read_value, source=f"{at} {named}")
        else:  # paperless-ngx: get_int_from_env("PAPERLESS_TASK_WORKERS", 1)
            why = read_value.why.partition(": ")[2] if isinstance(read_value, Unknown) else f"{read_value!r}"
            concurrency = unknown(source=f"{at} {named} not read ({why})", fix=f"--set {flag}=N")
    count = concurrency or unknown(source=f"{where} {name}: celery worker without --concurrency starts one "
                                   f"{'thread' if threaded else 'child process'} per CPU of the dyno",
                                   fix=f"add --concurrency N, or --set {flag}=N")
    if pool == "solo":
        return "celery", "worker", Setting(value=1, source="celery --pool solo: 1 process"), \
            Setting(value=1, source="celery --pool solo: 1 thread")
    if threaded:
        return "celery", "worker", Setting(value=1, source=f"celery --pool {pool}: 1 process"), count
    if pool not in ("prefork", "processes"):
        return "celery", "worker", unknown(source=f"{where} {name}: celery pool {pool!r} not known to connlab",
                                           fix=f"--set {name}.processes=N"), \
            unknown(source=f"{where} {name}: celery pool {pool!r} not known to connlab", fix=f"--set {name}.threads=N")
    return "celery", "worker", count, Setting(value=1, source="celery prefork: 1 thread per child process")


def _daemon(cmd: Command, text: str, at: str, index: int) -> Command:
    """A uwsgi ``attach-daemon`` command as a process type of its own, named after the type and its command
    (``web-sendalerts``), its lines naming the ini's line."""
    raw = split(text) or []
    program, args = _program(raw) if raw else ("", [])
    expanded = [expand(word, cmd.env) for word in args]
    what = expanded[0] if program == "manage.py" and expanded else program or "daemon"
    name = f"{cmd.name}-{re.sub(r'[^A-Za-z0-9_-]+', '-', what).strip('-') or index + 1}"
    return replace(cmd, name=name, line=0, text=text, program=program, args=expanded, raw=args, where=at,
                   label=f"{at} {name} (uwsgi attach-daemon)", pgbouncer=False)


_MANAGED = {"celery": [], "celeryd": ["worker"], "celerybeat": ["beat"], "rundramatiq": []}


def _managed(cmd: Command) -> Command:
    """A worker run as a Django management command, as the worker itself: ``manage.py celery worker ...``
    (django-celery, Celery 3), ``manage.py celeryd`` / ``celerybeat`` (older), django_dramatiq's ``manage.py
    rundramatiq`` (dramatiq's flags; its env ``DRAMATIQ_NPROCS`` / ``DRAMATIQ_NTHREADS``)."""
    if cmd.program != "manage.py" or not cmd.args or cmd.args[0] not in _MANAGED:
        return cmd
    return replace(cmd, program="dramatiq" if cmd.args[0] == "rundramatiq" else "celery",
                   args=[*_MANAGED[cmd.args[0]], *cmd.args[1:]], raw=[*_MANAGED[cmd.args[0]], *cmd.raw[1:]])


def _process_type(cmd: Command, read: _Read) -> ProcessType:
    role: Role
    cmd = _managed(cmd)
    known = _worker(cmd, read) if cmd.program in ("celery", "rq", "dramatiq") else None
    served = read_server(cmd, read.app_dir) if known is None and cmd.program != "gunicorn" else None
    if cmd.program == "gunicorn":
        server, role = "gunicorn", "web"
        processes, threads = _gunicorn(cmd, read)
    elif known is not None:
        server, role, processes, threads = known
    elif served is not None:
        server, role, processes, threads = served.server, served.role, served.processes, served.threads
        if served.asgi:
            read.asgi.add(cmd.name)
        read.daemons[cmd.name] = [_daemon(cmd, text, at, index) for index, (text, at) in enumerate(served.daemons)]
    elif cmd.name == "web":
        server, role = "unknown", "web"
        why = f"{cmd.at} web: `{cmd.text[:60]}` is not a server connlab reads"
        processes = unknown(source=why, fix="--set web.processes=N")
        threads = unknown(source=why, fix="--set web.threads=N")
    else:
        server = cmd.program if cmd.program in ("manage.py", "celery", "rq", "dramatiq") else "unknown"
        role = "web" if cmd.name == "web" else "oneoff"
        processes, threads = Setting(value=1, source=f"{cmd.name}: 1 process"), \
            Setting(value=1, source=f"{cmd.name}: 1 thread")
        if cmd.name != "release":
            how = "1 process, 1 thread" if role == "web" else "a one-off (1 process, 1 thread, at most 1 " \
                "connection per database)"
            fix = "--set web.processes=N --set web.threads=N" if role == "web" else \
                f"--set {cmd.name}.processes=N if it runs more than one"
            read.problems.append(Problem(path=f"{cmd.at}", what=f"{cmd.name}: `{cmd.text[:60]}` is not a "
                                         f"server connlab reads: counted as {how}", fix=fix))
    if cmd.name == "release":
        role = "release"
    if cmd.pgbouncer:
        read.problems.append(Problem(path=f"{cmd.at}", what=f"{cmd.name} runs behind pgbouncer on the "
                                     "dyno: Postgres sees pgbouncer's pool, not these connections",
                                     fix="the figures are the app's side; pgbouncer's default_pool_size bounds "
                                     "Postgres's"))
    for field_name in ("processes", "threads"):
        key = f"{cmd.name}.{field_name}"
        if key in read.flags:
            flagged = Setting(value=read.flags[key], source=f"flag --set {key}")
            processes, threads = (flagged, threads) if field_name == "processes" else (processes, flagged)
    return ProcessType(name=cmd.name, command=cmd.text, role=role, server=server, processes=processes,
                       threads=threads)


def _sqlalchemy(read: _Read, why: str, name: str) -> Pool:
    """The SQLAlchemy pool: from the flags, else unknown (``why``: not read from the code, or no ORM found)."""
    def given(key: str) -> Setting:
        for flag in ((f"{name}.pool", f"sqlalchemy.{key}") if key == "pool_size" else (f"sqlalchemy.{key}",)):
            if flag in read.flags:
                return Setting(value=read.flags[flag], source=f"flag --set {flag}")
        return unknown(source=f"{why}: {key}", fix=f"--set sqlalchemy.{key}=N")
    return Pool(database="default", kind="sqlalchemy", size=given("pool_size"), overflow=given("max_overflow"))


def _pools(process: ProcessType, read: _Read, sqlalchemy: str) -> tuple[Pool, ...]:
    pools = []
    flag = f"{process.name}.pool"
    each = "request in flight (ASGI)" if process.name in read.asgi else "thread"
    for database in read.django.databases if read.django is not None else []:
        if database.unread:  # DATABASES (or this entry, or its pool) not read: unknown until --set TYPE.pool=N
            size = Setting(value=read.flags[flag], source=f"flag --set {flag}") if flag in read.flags else unknown(
                source=f"{database.unread} (a connection per {each} without OPTIONS['pool'], the pool's max_size "
                "with one)", fix=f"--set {flag}=N (the connections one process holds)")
            pools.append(Pool(database=database.alias, kind="held", size=size))
            continue
        if database.pool is None:  # ASGI: a thread per request, so even a kept connection is not reused (py_servers)
            asgi_kept = process.name in read.asgi and not database.per_request
            kind = "django-per-request" if database.per_request or asgi_kept else "django-per-thread"
            if asgi_kept and database.alias not in read.asgi_kept:
                read.asgi_kept.add(database.alias)
                read.problems.append(Problem(
                    path=database.note.rpartition(", ")[2], what=f"DATABASES[{database.alias!r}] "
                    f"{database.note.rpartition(', ')[0]} under ASGI ({process.name}): each request runs in a thread "
                    "of its own that ends with it, so a kept connection is not reused and closes only when "
                    "collected: counted as a session per request (worst 2 per request in flight)",
                    fix="Django's docs: \"When using ASGI, persistent connections should be disabled\": CONN_MAX_AGE "
                    "0, or OPTIONS['pool'] (Django 5.1+, psycopg 3)"))
            pools.append(Pool(database=database.alias, kind=kind, size=Setting(
                value=process.threads.value, source=f"a connection per {each}: {database.note}")))
            continue
        minimum, maximum = database.pool
        if flag in read.flags:
            maximum = Setting(value=read.flags[flag], source=f"flag --set {flag}")
        pools.append(Pool(database=database.alias, kind="django-pool", size=maximum, min_size=minimum))
    if sqlalchemy:
        pools.append(_sqlalchemy(read, sqlalchemy, process.name))
    if flag in read.flags and pools and not any(p.kind in ("django-pool", "sqlalchemy", "held") for p in pools):
        read.problems.append(Problem(path=f"--set {flag}", what="Django opens a connection per thread here (no "
                                     "OPTIONS['pool']): there is no pool size",
                                     fix=f"use --set {process.name}.threads=N"))
    return tuple(pools)


def _check_flags(read: _Read, names: list[str]) -> None:
    for key in read.flags:
        prefix, _, setting = key.rpartition(".")
        if (prefix == "sqlalchemy" and setting in ("pool_size", "max_overflow")) or \
                (prefix in names and setting in ("processes", "threads", "pool", "cache_pool")):
            continue
        read.problems.append(Problem(path=f"--set {key}", what="not a setting of this app", fix="use "
                                     f"<type>.processes, .threads, .pool or .cache_pool for a type of the Procfile "
                                     f"({', '.join(names) or 'none'}), or sqlalchemy.pool_size, "
                                     "sqlalchemy.max_overflow"))


def _django_roots(app_dir: Path, commands: list[Command]) -> tuple[list[Path], dict[str, str]]:
    """Folders the servers run in (gunicorn ``--chdir``/``--pythonpath``, uwsgi ``chdir``, ``cd DIR &&``) and the
    env a uwsgi ini sets (``env = DJANGO_SETTINGS_MODULE=...``): where Django's settings module is looked up."""
    roots: list[Path] = []
    env: dict[str, str] = {}
    for cmd in commands:
        found = options(cmd.args, {"--chdir": "chdir", "--pythonpath": "pythonpath"}) if cmd.program == "gunicorn" \
            else {}
        folders = [value for _, value, _ in found.values()]
        folders += re.findall(r"(?:^|&&|;)\s*cd\s+([^\s;&|]+)\s*(?:&&|;)", cmd.text)
        folders += [cmd.cwd] if cmd.cwd else []  # launchers: cd DIR && ... past sh -c and scripts
        served = read_server(cmd, app_dir) if cmd.program in ("uwsgi", "pyuwsgi") else None
        if served is not None:
            folders.append(served.chdir)
            env.update(served.env or {})
        for folder in folders:
            for part in folder.split(","):
                path = (app_dir / part.strip()).resolve() if part.strip() else None
                if path is not None and path.is_dir() and path.is_relative_to(app_dir) and path not in roots:
                    roots.append(path)
    return roots, env


def read_python(app_dir: Path, *, env: Mapping[str, str], flags: Mapping[str, int], evaluate: bool = True
                ) -> AppConfig:
    """The app's process types, each with its processes, threads and pools, every figure with its source;
    ``evaluate=False`` (``--no-eval``): gunicorn config files read for their literal assignments only."""
    configs = Configs(app_dir.resolve(), evaluate=evaluate)
    try:
        return _read_python(configs.app_dir, env, flags, configs)
    finally:
        configs.close()


def _read_python(app_dir: Path, env: Mapping[str, str], flags: Mapping[str, int], configs: Configs) -> AppConfig:
    deps = read_deps(app_dir)
    is_django = (app_dir / "manage.py").is_file() or any(app_dir.glob("*/manage.py")) or \
        deps.has("django") is not None
    framework = "django" if is_django else "flask" if deps.has("flask") else "python"
    read = _Read(app_dir=app_dir, env=env, flags=flags, django=None, configs=configs)
    read.problems.extend(deps.problems)
    commands = procfile(app_dir, env, deps, read.problems)
    if is_django:
        roots, ini_env = _django_roots(app_dir, commands)
        read.django = read_django(app_dir, {**ini_env, **env}, roots=roots)
    found_in = deps.has("sqlalchemy", "flask-sqlalchemy")
    sqlalchemy = ""  # why the SQLAlchemy pool is unknown, when the app has one
    if found_in is not None and not is_django:
        sqlalchemy = f"{found_in}: SQLAlchemy's pool (create_engine pool_size, max_overflow) is not read from the code"
    elif read.django is None:
        listed = next((n for n in ("requirements.txt", "pyproject.toml") if (app_dir / n).is_file()), "Procfile")
        sqlalchemy = f"{listed}: neither Django nor SQLAlchemy found, so the database connections are not known " \
            "(0 and 0: it opens none)"
    elif any(k.startswith("sqlalchemy.") for k in flags):
        sqlalchemy = "flag --set sqlalchemy"
    processes = [_process_type(cmd, read) for cmd in commands]
    daemons = {name: [_process_type(daemon, read) for daemon in found] for name, found in read.daemons.items()}
    every = [*commands, *(d for found in read.daemons.values() for d in found)]
    uses = read_uses(read.django, deps, env, every, [*processes, *(d for found in daemons.values() for d in found)])
    types = []
    for p in processes:
        redis, beside = redis_for(p, uses, flags)
        for daemon in daemons.get(p.name, []):  # run by uwsgi's master beside its workers: once per dyno
            on_redis, more = redis_for(daemon, uses, flags)
            beside += (ProcessType(**{**vars(daemon), "pools": _pools(daemon, read, sqlalchemy),
                                      "redis": on_redis}), *more)
        types.append(ProcessType(**{**vars(p), "pools": _pools(p, read, sqlalchemy), "redis": redis,
                                    "beside": beside}))
    if read.django is not None:
        read.problems.extend(read.django.problems)
    read.problems.extend(configs.notes())
    if not types:
        read.problems.append(Problem(path="Procfile", what=f"no process type found (looked at: {LOOKED}): nothing "
                                     "could be counted", fix="add a Procfile (`web: gunicorn proj.wsgi`, `worker: "
                                     "...`)", incomplete=True))
    _check_flags(read, [p.name for p in types] + [d.name for found in daemons.values() for d in found])
    return AppConfig(framework=framework, process_types=tuple(types), versions=versions(deps),
                     problems=tuple(read.problems))

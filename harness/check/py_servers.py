"""The Python servers and workers besides gunicorn, celery, rq and dramatiq: uvicorn, uWSGI, granian, and
django-rq's ``manage.py rqworker``; and what an ASGI app's requests in flight mean for its connections.

* ``uvicorn APP``: processes = ``--workers``, else env ``WEB_CONCURRENCY``, else 1 (uvicorn's documented
  default). ``--interface wsgi`` runs a WSGI app on a thread pool connlab does not read: threads unknown.
* ``uwsgi --ini FILE`` (or ``uwsgi FILE.ini``) and its flags (``--processes``/``-p``/``--workers``,
  ``--threads``, ``--gevent N``, ``--chdir``): the ``[uwsgi]`` section of the ini file, ``$(VAR)`` from the env
  given; the command line over the file, the file over the env's ``UWSGI_PROCESSES`` / ``UWSGI_THREADS`` ...
  (uWSGI parses the environ first, then the command line with its ``--ini``: ``core/uwsgi.c``,
  ``parse_sys_envs(environ)`` before ``uwsgi_commandline_config()``; the last value of an option wins).
  ``if-env = VAR`` / ``if-not-env = VAR`` ... ``endif`` blocks are followed with the env given (healthchecks'
  ``docker/uwsgi.ini``: ``if-not-env = UWSGI_PROCESSES`` / ``processes = 4``); a figure inside another ``if-*``
  block is unknown. Defaults (uWSGI's): 1 worker, 1 thread (``enable-threads`` only lets the app start threads
  of its own: no more requests at once). An absolute path (a container's, ``uwsgi /opt/app/docker/uwsgi.ini``)
  is read as the app's file with the longest tail that exists there, and ``chdir`` under the same folder as the
  app's. ``attach-daemon = CMD`` / ``smart-attach-daemon = PIDFILE CMD``: a process the master runs beside its
  workers, once per uwsgi instance (healthchecks: ``./manage.py sendalerts``): ``Served.daemons``, read by the
  Python reader as process types of their own beside the web.
* ``granian APP``: ``--workers`` (env ``GRANIAN_WORKERS``, default 1), ``--interface asgi|asginl|rsgi|wsgi``
  (``GRANIAN_INTERFACE``, default rsgi), ``--blocking-threads`` (``GRANIAN_BLOCKING_THREADS``) for WSGI: its
  default changed across granian versions, so without it the threads are unknown; ``--backpressure N`` bounds
  the requests one worker serves at once.
* ``python manage.py rqworker [QUEUES]`` (django-rq): one RQ worker; ``rqworker-pool --num-workers N``: N.
* ``hypercorn APP``: ``-w/--workers`` (default 1; ``-c`` a config file connlab does not read: unknown), ASGI
  (a WSGI app runs on a thread pool connlab does not read: threads unknown). ``daphne APP`` (Django Channels):
  one process, ASGI, no limit of its own on the requests in flight.

**ASGI** (uvicorn, granian ``--interface asgi``, gunicorn ``-k uvicorn.workers.UvicornWorker`` or
``uvicorn_worker.UvicornWorker``): no thread count bounds the database connections. Django's
``ASGIHandler.__call__`` wraps every request in ``asgiref.sync.ThreadSensitiveContext()`` (django/core/handlers/
asgi.py), and asgiref gives each such context its own single-thread executor (``SyncToAsync.
context_to_thread_executor``, asgiref/sync.py), which every ``sync_to_async(thread_sensitive=True)`` call of that
request runs on: sync views, sync middleware, the ORM from async views. Django's connections are per thread
(``ConnectionHandler``: ``thread_critical = True``), so a process holds a connection per request in flight. The
request's end (``request_finished``, sent by ``HttpResponse.close()`` through ``sync_to_async``, on that same
thread) closes it when ``CONN_MAX_AGE`` is 0; a kept one (> 0) stays with a thread that ends with the request
(``ThreadSensitiveContext.__aexit__`` shuts its executor down), so it is never reused and closes only when it is
collected. Django's docs (ref/databases, Persistent connections): "When using ASGI, persistent connections should
be disabled." The reader counts either as a session per request (``django-per-request``: T, 2T at worst) and
notes a kept one. A psycopg pool (``OPTIONS['pool']``) bounds a process at its ``max_size``. What bounds the
requests in flight is the server's own limit (uvicorn ``--limit-concurrency N``, granian ``--backpressure N``)
or the load (gunicorn's ``UvicornWorker`` passes no ``worker_connections`` on to uvicorn's ``limit_concurrency``:
uvicorn/workers.py, ``config_kwargs``): without one, threads = ``unknown`` with ``--set TYPE.threads=N`` (N = the
requests in flight per process).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.check.model import Problem, Role, Setting, unknown
from harness.check.py_procfile import VAR, Command, options

ASGI_WORKERS = ("uvicornworker", "uvicornh11worker")  # uvicorn.workers.* and uvicorn_worker.*
_UVICORN = {"--workers": "workers", "--limit-concurrency": "limit", "--interface": "interface"}
_UWSGI = {"--ini": "ini", "--processes": "processes", "-p": "processes", "--workers": "processes",
          "--threads": "threads", "--gevent": "gevent", "--chdir": "chdir", "--module": "module",
          "-w": "module", "--wsgi-file": "module"}
_GRANIAN = {"--workers": "workers", "--interface": "interface", "--blocking-threads": "blocking",
            "--backpressure": "backpressure"}


@dataclass(frozen=True, kw_only=True)
class Served:
    server: str
    role: Role
    processes: Setting
    threads: Setting
    asgi: bool = False
    #: the folder the server runs in, relative to the app (uwsgi ``chdir``, ``--chdir``): where Django's settings are
    chdir: str = ""
    env: Mapping[str, str] | None = None  # uwsgi ``env = K=V`` lines
    #: uwsgi ``attach-daemon`` commands, each with its file:line: run once per instance beside the workers
    daemons: tuple[tuple[str, str], ...] = ()


def in_flight(name: str, server: str, bound: Setting | None = None) -> Setting:
    """The requests one ASGI process serves at once: ``bound`` when the server limits them, else unknown."""
    if bound is not None:
        return Setting(value=bound.value, source=f"{bound.source}: ASGI, a connection per request in flight")
    return unknown(source=f"{server} (ASGI): a connection per request in flight, which no thread count bounds",
                   fix=f"--set {name}.threads=N (requests in flight per process)")


def number(cmd: Command, found: tuple[int, str, str] | None, fix: str, problems: list[Problem],
           what: str = "") -> Setting | None:
    """A number from the command line (None when absent); not a number: unknown with ``fix``."""
    if found is None:
        return None
    index, value, spelling = found
    written = cmd.raw[index].removeprefix(f"{spelling}=") if index < len(cmd.raw) else value
    variables = [m.group(1) or m.group(3) for m in VAR.finditer(written)]
    given = [v for v in variables if v in cmd.env]
    source = f"{cmd.called}: {spelling}"
    try:
        count = int(value, 0)
    except ValueError:
        unset = [v for v in variables if v not in cmd.env]
        return unknown(source=f"{cmd.at} {cmd.name}: {spelling} {written!r} is not a number"
                       + (f" ({', '.join(unset)} not given)" if unset else ""),
                       fix=f"--env {unset[0]}=N, or {fix}" if unset else fix)
    return Setting(value=count, source=f"env {given[0]} ({source})" if given else source)


def _env_number(cmd: Command, variable: str, fix: str) -> Setting | None:
    text = cmd.env.get(variable)
    if text is None:
        return None
    if text.strip().isdigit():
        return Setting(value=int(text), source=f"env {variable}")
    return unknown(source=f"env {variable}={text!r} is not a number", fix=fix)


def _workers(cmd: Command, found: Mapping[str, tuple[int, str, str]], variable: str, server: str,
             problems: list[Problem]) -> Setting:
    """``--workers`` from the command line, else the server's env variable, else its default of 1."""
    fix = f"--set {cmd.name}.processes=N"
    return number(cmd, found.get("workers"), fix, problems) or _env_number(cmd, variable, fix) or \
        Setting(value=1, source=f"default ({server}: 1 worker)")


def uvicorn(cmd: Command) -> Served:
    name = cmd.name
    problems: list[Problem] = []
    found = options(cmd.args, _UVICORN)
    workers = _workers(cmd, found, "WEB_CONCURRENCY", "uvicorn", problems)
    interface = found["interface"][1] if "interface" in found else "auto"
    if interface == "wsgi":
        return Served(server="uvicorn", role="web", processes=workers, threads=unknown(
            source="uvicorn --interface wsgi: the threads of its WSGI middleware are not read",
            fix=f"--set {name}.threads=N"))
    limit = number(cmd, found.get("limit"), f"--set {name}.threads=N", problems)
    return Served(server="uvicorn", role="web", processes=workers, threads=in_flight(name, "uvicorn", limit),
                  asgi=True)


def granian(cmd: Command) -> Served:
    name = cmd.name
    problems: list[Problem] = []
    found = options(cmd.args, _GRANIAN)
    workers = _workers(cmd, found, "GRANIAN_WORKERS", "granian", problems)
    interface = found["interface"][1] if "interface" in found else cmd.env.get("GRANIAN_INTERFACE", "rsgi")
    threads_fix = f"--set {name}.threads=N"
    if interface == "wsgi":
        threads = number(cmd, found.get("blocking"), threads_fix, problems) or \
            _env_number(cmd, "GRANIAN_BLOCKING_THREADS", threads_fix) or unknown(
                source="granian --interface wsgi without --blocking-threads (its default changed across versions)",
                fix=f"add --blocking-threads N, or {threads_fix}")
        return Served(server="granian", role="web", processes=workers, threads=threads)
    bound = number(cmd, found.get("backpressure"), threads_fix, problems)
    return Served(server="granian", role="web", processes=workers,
                  threads=in_flight(name, f"granian --interface {interface}", bound), asgi=True)


_MULTI = ("env", "attach-daemon", "smart-attach-daemon")  # options that add a value each time, not replace


@dataclass
class _Ini:
    values: dict[str, str]
    lines: dict[str, str]  # key -> file:line
    multi: dict[str, list[tuple[str, str]]]  # attach-daemon, env ...: every value with its file:line
    unsure: dict[str, str]  # key -> the `if-*` block it was set in, which connlab does not evaluate
    failed: str | None = None


def _ini(path: Path, shown: str, env: Mapping[str, str]) -> _Ini:
    """The ``[uwsgi]`` section: the last value of each key (with its line), ``if-env``/``if-not-env`` followed."""
    read = _Ini(values={}, lines={}, multi={}, unsure={})
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        read.failed = f"not read ({exc.strerror})"
        return read
    section, seen = None, False
    blocks: list[tuple[bool | None, str]] = []  # (condition: True, False, None = not evaluated; where)
    for number_, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("["):
            section = line.strip("[]").strip()
            seen = seen or section == "uwsgi"
            continue
        if section != "uwsgi":
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if key == "endif":
            if blocks:
                blocks.pop()
            continue
        if key.startswith("if-"):
            name = _ini_value(value, env)[0]
            truth = bool(env.get(name)) if key == "if-env" else not env.get(name) if key == "if-not-env" else None
            blocks.append((truth, f"{shown}:{number_} {key} = {value}"))
            continue
        if any(truth is False for truth, _ in blocks) or "=" not in line:
            continue
        where = f"{shown}:{number_}"
        unsure = next((at for truth, at in blocks if truth is None), None)
        if key in _MULTI:
            read.multi.setdefault(key, []).append((value, where))
            continue
        read.values[key], read.lines[key] = value, where
        if unsure is not None:
            read.unsure[key] = unsure
        else:
            read.unsure.pop(key, None)
    if not seen:
        read.failed = "no [uwsgi] section"
    return read


def _ini_value(value: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """``$(VAR)`` expanded from ``env``; the variables not given."""
    unset: list[str] = []

    def one(found: re.Match[str]) -> str:
        if found.group(1) in env:
            return env[found.group(1)]
        unset.append(found.group(1))
        return ""
    return re.sub(r"\$\((\w+)\)", one, value), unset


def in_app(text: str, app_dir: Path, cwd: str = "") -> tuple[Path, str]:
    """A path a command names, as the app's file: relative to the folder it runs in; an absolute one (a
    container's or a host's install folder) by the longest tail of it that exists in the app. Also the absolute
    folder read as the app's own ("" when none)."""
    path = Path(text)
    if not path.is_absolute():
        return app_dir / cwd / path, ""
    parts = path.parts[1:]
    for index in range(len(parts)):
        candidate = app_dir.joinpath(*parts[index:])
        if candidate.exists():
            return candidate, "/" + "/".join(parts[:index])
    return path, ""


def uwsgi(cmd: Command, app_dir: Path) -> Served:
    name = cmd.name
    problems: list[Problem] = []
    found = options(cmd.args, _UWSGI)
    ini_name = found["ini"][1] if "ini" in found else next((a for a in cmd.args if a.endswith(".ini")), None)
    ini = _Ini(values={}, lines={}, multi={}, unsure={})
    root = ""  # the absolute folder that is the app's (from an absolute ini path)
    if ini_name is not None:
        ini_path, root = in_app(ini_name.split(":")[0], app_dir, cmd.cwd)
        shown = str(ini_path.relative_to(app_dir)) if ini_path.is_relative_to(app_dir) else ini_name
        if ini_path.is_file():
            ini = _ini(ini_path, shown, cmd.env)
            ini_name = shown
        else:
            ini.failed = "not found"

    def setting(key: str, aliases: tuple[str, ...], default: Setting, flag: str) -> Setting:
        fix = f"--set {name}.{flag}=N"
        cli = number(cmd, found.get(key), fix, problems)
        if cli is not None:
            return cli
        for alias in aliases:
            if alias in ini.values:
                raw = ini.values[alias]
                text, unset = _ini_value(raw, cmd.env)
                at = ini.lines[alias]
                if alias in ini.unsure:
                    return unknown(source=f"{at} {alias} = {raw} is set inside `{ini.unsure[alias]}`, which "
                                   "connlab does not evaluate", fix=fix)
                if text.strip().isdigit():
                    used = re.findall(r"\$\((\w+)\)", raw)
                    return Setting(value=int(text), source=f"env {used[0]} ({at})" if used else at)
                return unknown(source=f"{at} {alias} = {raw!r} is not a number"
                               + (f" ({', '.join(unset)} not given)" if unset else ""),
                               fix=f"--env {unset[0]}=N, or {fix}" if unset else fix)
        for alias in aliases:  # uWSGI reads UWSGI_<OPTION> from the environ first: the lowest of all
            variable = f"UWSGI_{alias.upper().replace('-', '_')}"
            if variable in cmd.env:
                return _env_number(cmd, variable, fix) or default
        if ini.failed is not None:
            return unknown(source=f"uwsgi ini {ini_name}: {ini.failed}", fix=fix)
        return default

    processes = setting("processes", ("processes", "workers"), Setting(value=1, source="default (uWSGI: 1 worker)"),
                        "processes")
    gevent = setting("gevent", ("gevent",), Setting(value=0, source=""), "threads")
    threads = gevent if gevent.value or gevent.missing else \
        setting("threads", ("threads",), Setting(value=1, source="default (uWSGI: 1 thread)"), "threads")
    if gevent.value and not gevent.missing:
        threads = Setting(value=gevent.value, source=f"{gevent.source}: gevent, a greenlet per request")
    chdir = found["chdir"][1] if "chdir" in found else _ini_value(ini.values.get("chdir", ""), cmd.env)[0]
    chdir = chdir.strip()
    if chdir.startswith("/"):  # a container's folder: the app's when it is the ini's root or under it
        chdir = chdir.removeprefix(root).lstrip("/") if root and (chdir + "/").startswith(root + "/") else chdir
    env: dict[str, str] = {}
    for line, _ in ini.multi.get("env", []):
        key, _, value = _ini_value(line, cmd.env)[0].partition("=")
        if key:
            env[key.strip()] = value.strip()
    daemons = [(value, at) for value, at in ini.multi.get("attach-daemon", [])]
    daemons += [(value.split(None, 1)[1], at) for value, at in ini.multi.get("smart-attach-daemon", [])
                if len(value.split(None, 1)) == 2]
    return Served(server="uwsgi", role="web", processes=processes, threads=threads, chdir=chdir, env=env,
                  daemons=tuple(daemons))


def rqworker(cmd: Command) -> Served | None:
    """django-rq's ``manage.py rqworker`` / ``rqworker-pool``; None for any other management command."""
    thread = Setting(value=1, source="rq: 1 thread (a work horse forked per job)")
    if cmd.args[:1] == ["rqworker"]:
        return Served(server="rq", role="worker", processes=Setting(value=1, source="manage.py rqworker: 1 process"),
                      threads=thread)
    if cmd.args[:1] == ["rqworker-pool"]:
        found = options(cmd.args, {"--num-workers": "n", "-n": "n"})
        count = number(cmd, found.get("n"), f"--set {cmd.name}.processes=N", []) or \
            Setting(value=1, source="default (rqworker-pool: 1 worker)")
        return Served(server="rq", role="worker", processes=count, threads=thread)
    return None


def hypercorn(cmd: Command) -> Served:
    name = cmd.name
    found = options(cmd.args, {"-w": "workers", "--workers": "workers", "-c": "config", "--config": "config"})
    fix = f"--set {name}.processes=N"
    workers = number(cmd, found.get("workers"), fix, [])
    if workers is None and "config" in found:
        workers = unknown(source=f"{cmd.at} {name}: hypercorn config {found['config'][1]} not read", fix=fix)
    target = next((a for a in cmd.args if ":" in a and not a.startswith("-")), "")
    if "wsgi" in target.lower() and "asgi" not in target.lower():
        return Served(server="hypercorn", role="web", processes=workers or Setting(
            value=1, source="default (hypercorn: 1 worker)"), threads=unknown(
            source=f"hypercorn {target}: a WSGI app runs on a thread pool connlab does not read",
            fix=f"--set {name}.threads=N"))
    return Served(server="hypercorn", role="web", processes=workers or Setting(
        value=1, source="default (hypercorn: 1 worker)"), threads=in_flight(name, "hypercorn"), asgi=True)


def daphne(cmd: Command) -> Served:
    return Served(server="daphne", role="web", processes=Setting(value=1, source="daphne: 1 process"),
                  threads=in_flight(cmd.name, "daphne"), asgi=True)


def read_server(cmd: Command, app_dir: Path) -> Served | None:
    """The server of a Procfile line, for the programs this module reads; None for any other."""
    if cmd.program == "uvicorn":
        return uvicorn(cmd)
    if cmd.program == "granian":
        return granian(cmd)
    if cmd.program == "hypercorn":
        return hypercorn(cmd)
    if cmd.program == "daphne":
        return daphne(cmd)
    if cmd.program in ("uwsgi", "pyuwsgi"):
        return uwsgi(cmd, app_dir)
    if cmd.program == "manage.py":
        return rqworker(cmd)
    return None

"""The Python servers and workers besides gunicorn, celery, rq and dramatiq: uvicorn, uWSGI, granian, and
django-rq's ``manage.py rqworker``; and what an ASGI app's requests in flight mean for its connections.

* ``uvicorn APP``: processes = ``--workers``, else env ``WEB_CONCURRENCY``, else 1 (uvicorn's documented
  default). ``--interface wsgi`` runs a WSGI app on a thread pool connlab does not read: threads unknown.
* ``uwsgi --ini FILE`` (or ``uwsgi FILE.ini``) and its flags (``--processes``/``-p``/``--workers``,
  ``--threads``, ``--gevent N``, ``--chdir``): the ``[uwsgi]`` section of the ini file, ``$(VAR)`` from the env
  given; the command line over the file. Defaults (uWSGI's): 1 worker, 1 thread.
* ``granian APP``: ``--workers`` (env ``GRANIAN_WORKERS``, default 1), ``--interface asgi|asginl|rsgi|wsgi``
  (``GRANIAN_INTERFACE``, default rsgi), ``--blocking-threads`` (``GRANIAN_BLOCKING_THREADS``) for WSGI: its
  default changed across granian versions, so without it the threads are unknown; ``--backpressure N`` bounds
  the requests one worker serves at once.
* ``python manage.py rqworker [QUEUES]`` (django-rq): one RQ worker; ``rqworker-pool --num-workers N``: N.

**ASGI** (uvicorn, granian ``--interface asgi``, gunicorn ``-k uvicorn.workers.UvicornWorker`` or
``uvicorn_worker.UvicornWorker``): no thread count bounds the database connections. Django's
``ASGIHandler.__call__`` wraps every request in ``asgiref.sync.ThreadSensitiveContext()`` (django/core/handlers/
asgi.py), and asgiref gives each such context its own single-thread executor (``SyncToAsync.
context_to_thread_executor``, asgiref/sync.py), which every ``sync_to_async(thread_sensitive=True)`` call of that
request runs on: sync views, sync middleware, the ORM from async views. Django's connections are per thread
(``ConnectionHandler``: ``thread_critical = True``), so a process holds a connection per request in flight, and
with ``CONN_MAX_AGE`` > 0 one per thread it ever ran (closed only by its request's end handler). What bounds the
requests in flight is the server's own limit (uvicorn ``--limit-concurrency N``, granian ``--backpressure N``)
or the load: without one, threads = ``unknown`` with ``--set TYPE.threads=N`` (N = the requests in flight per
process).
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


def uvicorn(cmd: Command) -> Served:
    name = cmd.name
    problems: list[Problem] = []
    found = options(cmd.args, _UVICORN)
    fix = f"--set {name}.processes=N"
    workers = number(cmd, found.get("workers"), fix, problems) or _env_number(cmd, "WEB_CONCURRENCY", fix) or \
        Setting(value=1, source="default (uvicorn: 1 worker)")
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
    fix = f"--set {name}.processes=N"
    workers = number(cmd, found.get("workers"), fix, problems) or _env_number(cmd, "GRANIAN_WORKERS", fix) or \
        Setting(value=1, source="default (granian: 1 worker)")
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


def _ini(path: Path, env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, int], str | None]:
    """The ``[uwsgi]`` section (last value of each key), the line of each key, or why it was not read."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return {}, {}, f"not read ({exc.strerror})"
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    section, seen = None, False
    for number_, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("["):
            section = line.strip("[]").strip()
            seen = seen or section == "uwsgi"
            continue
        if section != "uwsgi" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if key == "env":
            values.setdefault("env", "")
            values["env"] += value + "\n"
            continue
        values[key], lines[key] = value, number_
    if not seen:
        return values, lines, "no [uwsgi] section"
    return values, lines, None


def _ini_value(value: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """``$(VAR)`` expanded from ``env``; the variables not given."""
    unset: list[str] = []

    def one(found: re.Match[str]) -> str:
        if found.group(1) in env:
            return env[found.group(1)]
        unset.append(found.group(1))
        return ""
    return re.sub(r"\$\((\w+)\)", one, value), unset


def uwsgi(cmd: Command, app_dir: Path) -> Served:
    name = cmd.name
    problems: list[Problem] = []
    found = options(cmd.args, _UWSGI)
    ini_name = found["ini"][1] if "ini" in found else next((a for a in cmd.args if a.endswith(".ini")), None)
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    failed = None
    if ini_name is not None:
        ini_path = app_dir / ini_name
        if ini_path.is_file():
            values, lines, failed = _ini(ini_path, cmd.env)
        else:
            failed = "not found"

    def setting(key: str, aliases: tuple[str, ...], default: Setting, flag: str) -> Setting:
        fix = f"--set {name}.{flag}=N"
        cli = number(cmd, found.get(key), fix, problems)
        if cli is not None:
            return cli
        for alias in aliases:
            if alias in values:
                text, unset = _ini_value(values[alias], cmd.env)
                at = f"{ini_name}:{lines[alias]}"
                if text.strip().isdigit():
                    used = re.findall(r"\$\((\w+)\)", values[alias])
                    return Setting(value=int(text), source=f"env {used[0]} ({at})" if used else at)
                return unknown(source=f"{at} {alias} = {values[alias]!r} is not a number"
                               + (f" ({', '.join(unset)} not given)" if unset else ""),
                               fix=f"--env {unset[0]}=N, or {fix}" if unset else fix)
        if failed is not None:
            return unknown(source=f"uwsgi ini {ini_name}: {failed}", fix=fix)
        return default

    processes = setting("processes", ("processes", "workers"), Setting(value=1, source="default (uWSGI: 1 worker)"),
                        "processes")
    gevent = setting("gevent", ("gevent",), Setting(value=0, source=""), "threads")
    threads = gevent if gevent.value or gevent.missing else \
        setting("threads", ("threads",), Setting(value=1, source="default (uWSGI: 1 thread)"), "threads")
    if gevent.value and not gevent.missing:
        threads = Setting(value=gevent.value, source=f"{gevent.source}: gevent, a greenlet per request")
    chdir = found["chdir"][1] if "chdir" in found else _ini_value(values.get("chdir", ""), cmd.env)[0]
    env: dict[str, str] = {}
    for line in values.get("env", "").splitlines():
        key, _, value = _ini_value(line, cmd.env)[0].partition("=")
        if key:
            env[key.strip()] = value.strip()
    return Served(server="uwsgi", role="web", processes=processes, threads=threads, chdir=chdir.strip(), env=env)


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


def read_server(cmd: Command, app_dir: Path) -> Served | None:
    """The server of a Procfile line, for the programs this module reads; None for any other."""
    if cmd.program == "uvicorn":
        return uvicorn(cmd)
    if cmd.program == "granian":
        return granian(cmd)
    if cmd.program in ("uwsgi", "pyuwsgi"):
        return uwsgi(cmd, app_dir)
    if cmd.program == "manage.py":
        return rqworker(cmd)
    return None

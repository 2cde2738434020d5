"""A Django app's databases: which settings module, and per database alias how its connections are held.

Per ``DATABASES`` entry whose ENGINE is PostgreSQL (``postgresql``, ``postgresql_psycopg2``, PostGIS; others are
not counted):

* no ``OPTIONS["pool"]``: a connection per thread that queries (``django-per-thread``). ``CONN_MAX_AGE`` 0
  (Django's default) opens it per request and closes it after; > 0 or None keeps it. Either way a thread holds
  at most one, so the peak per process is its threads.
* ``OPTIONS["pool"]`` True or a dict (Django 5.1+, psycopg 3): a ``psycopg_pool.ConnectionPool`` per process and
  alias (``django-pool``), built with the dict as its arguments (True: ``{}``). psycopg_pool's defaults:
  ``ConnectionPool(min_size=4, max_size=None)``, and ``max_size=None`` means ``max_size = min_size`` (a fixed
  pool): https://www.psycopg.org/psycopg3/docs/api/pool.html (``ConnectionPool``), and its ``_check_size``
  (``if max_size is None: max_size = min_size``; ``max_size < min_size`` raises ValueError). Django opens the pool
  at the first connection, and the pool then opens ``min_size`` connections, busy or not. Django refuses a pool
  with ``CONN_MAX_AGE`` other than 0 ("Pooling doesn't support persistent connections."), and a falsy
  ``OPTIONS["pool"]`` (False, None, ``{}``) is no pool (``django/db/backends/postgresql/base.py``,
  ``DatabaseWrapper.pool``: ``if ... not pool_options: return None``; True becomes ``{}``).

Which module: ``DJANGO_SETTINGS_MODULE`` from the env given (a uwsgi ini's ``env =`` lines too), else the
``os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)`` of ``manage.py``, then of ``wsgi.py``/``asgi.py``, else
``<proj>/settings.py``, ``<proj>/settings/production.py`` (or ``prod.py``, ``__init__.py``). Looked for in the
folders the servers run in (gunicorn ``--chdir``/``--pythonpath``, uwsgi ``chdir``, ``cd DIR &&``), the app's
folder, its ``src/`` and each folder one level down that holds a ``manage.py`` (netbox: ``netbox/manage.py``,
``netbox/netbox/settings.py``); the folder it was found in is where the module's dotted name starts.

What is not read (no settings module, ``DATABASES`` built by code, an entry or ``OPTIONS['pool']`` not read) is
``unread``: the reader makes each process's connections to it unknown (a pool of 1, the least), until ``--set
TYPE.pool=N`` gives the connections each process holds (its threads without a pool, the pool's max_size with one).

A settings module with no PostgreSQL database but a SQLite one gets a note: nothing is counted on Postgres, and
how to say production's is Postgres (``--env DATABASE_URL=postgres://...`` when the settings read it).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.check.django_settings import Entries, Reader, Unknown, dotted
from harness.check.model import Problem, Setting

PSYCOPG_POOL_MIN = 4  # psycopg_pool.ConnectionPool(min_size=4, max_size=None): see the docstring


@dataclass(frozen=True, kw_only=True)
class Database:
    alias: str
    note: str  # how its connections are held, for the sources: "CONN_MAX_AGE 60 (proj/settings.py:21)"
    pool: tuple[Setting, Setting] | None = None  # (min_size, max_size) of a native pool
    per_request: bool = False  # CONN_MAX_AGE 0: a session per request, closed after it
    #: why its connections are not known (DATABASES, this entry or its OPTIONS['pool'] not read): unknown figures
    unread: str = ""


@dataclass
class DjangoApp:
    settings: str | None  # the file read, relative to the app
    databases: list[Database] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    reader: Reader | None = None

    def setting(self, name: str) -> tuple[Any, str] | None:
        """A top-level setting's value and its file:line (e.g. CELERY_WORKER_CONCURRENCY), when read."""
        if self.reader is None or name not in self.reader.names:
            return None
        return self.reader.names[name], self.reader.lines.get(name, self.settings or "")


def _setdefault(path: Path) -> tuple[str, int] | None:
    try:
        tree = ast.parse(path.read_text(errors="replace"))
    except (SyntaxError, ValueError, OSError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and dotted(node.func).endswith("environ.setdefault") and \
                len(node.args) == 2 and all(isinstance(a, ast.Constant) for a in node.args) and \
                getattr(node.args[0], "value", None) == "DJANGO_SETTINGS_MODULE":
            return str(getattr(node.args[1], "value", "")), node.lineno
    return None


def bases(app_dir: Path, roots: list[Path] | None = None) -> list[Path]:
    """Where a settings module may start: the servers' folders, the app, src/, folders holding a manage.py."""
    found = [*(roots or []), app_dir, app_dir / "src", *sorted(p.parent for p in app_dir.glob("*/manage.py"))]
    return [p for p in dict.fromkeys(found) if p.is_dir()]


def settings_module(app_dir: Path, env: Mapping[str, str],
                    roots: list[Path] | None = None) -> tuple[str | None, str, Path]:
    """The settings module's dotted name, where that came from, and the folder its dotted name starts in."""
    folders = bases(app_dir, roots)

    def shown(path: Path) -> str:
        return str(path.relative_to(app_dir))
    for name in ("manage.py", "*/wsgi.py", "*/asgi.py"):
        for folder in folders:
            for path in sorted(folder.glob(name)):
                found = _setdefault(path)
                if found is not None:
                    module = env.get("DJANGO_SETTINGS_MODULE") or found[0]
                    how = "env DJANGO_SETTINGS_MODULE" if env.get("DJANGO_SETTINGS_MODULE") else \
                        f"{shown(path)}:{found[1]}"
                    return module, how, folder
    if env.get("DJANGO_SETTINGS_MODULE"):
        return env["DJANGO_SETTINGS_MODULE"], "env DJANGO_SETTINGS_MODULE", app_dir
    for pattern in ("*/settings.py", "*/settings/production.py", "*/settings/prod.py", "*/settings/__init__.py"):
        for folder in folders:
            found_files = sorted(folder.glob(pattern))
            if found_files:
                module = ".".join(found_files[0].relative_to(folder).with_suffix("").parts).removesuffix(".__init__")
                return module, f"found {shown(found_files[0])}", folder
    return None, "no DJANGO_SETTINGS_MODULE", app_dir


UNREAD_FIX = "--set TYPE.pool=N for each process type (the connections one process holds: its threads without " \
    "OPTIONS['pool'], the pool's max_size with one)"


def _assumed(app: DjangoApp, path: str, why: str, fix: str = UNREAD_FIX) -> None:
    app.databases = [Database(alias="default", note="DATABASES not read", unread=f"{path}: DATABASES not read")]
    app.problems.append(Problem(path=path, what=f"{why}: the connections per process are unknown (counted at 1)",
                                fix=fix))


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _pool(env: Mapping[str, str], app: DjangoApp, alias: str, entry: Entries,
          options: Entries) -> tuple[Setting, Setting]:
    """(min_size, max_size) of a native pool, with psycopg_pool's defaults where the settings give none."""
    value, line = options["pool"], options.lines.get("pool", app.settings or "")
    given: Mapping[Any, Any] = value if isinstance(value, dict) else {}
    lines = value.lines if isinstance(value, Entries) else {}
    low, high = _count(given.get("min_size", PSYCOPG_POOL_MIN)), _count(given.get("max_size"))
    low_read = low is not None and "min_size" in given
    if low is None:
        app.problems.append(Problem(path=lines.get("min_size", line), what=f"DATABASES[{alias!r}] pool min_size "
                                    "not read", fix=f"assumed psycopg_pool's default {PSYCOPG_POOL_MIN}"))
        low = PSYCOPG_POOL_MIN
    at = value.source if isinstance(value, Entries) else (lambda key, env: line)
    minimum = Setting(value=low, source=f"{at('min_size', env)} pool min_size" if low_read
                      else f"default (psycopg_pool: min_size {PSYCOPG_POOL_MIN}; {line} pool)")
    if high is None and given.get("max_size") is not None:
        app.problems.append(Problem(path=lines.get("max_size", line), what=f"DATABASES[{alias!r}] pool max_size "
                                    "not read", fix="assumed min_size; give it with --set <type>.pool=N"))
    maximum = Setting(value=high, source=f"{at('max_size', env)} pool max_size") if high is not None else \
        Setting(value=low, source=f"default (psycopg_pool: max_size = min_size {low}; {line} pool)")
    if maximum.value < low:
        app.problems.append(Problem(path=lines.get("max_size", line), what=f"DATABASES[{alias!r}] pool max_size "
                                    f"{maximum.value} < min_size {low}: psycopg_pool refuses it (ValueError)",
                                    fix="make max_size >= min_size"))
    age = entry.get("CONN_MAX_AGE", 0)
    if age != 0 and not isinstance(age, Unknown):
        app.problems.append(Problem(path=entry.lines.get("CONN_MAX_AGE", line), what=f"DATABASES[{alias!r}] has "
                                    f"OPTIONS['pool'] with CONN_MAX_AGE {age}: Django refuses it (\"Pooling doesn't "
                                    "support persistent connections.\")", fix="set CONN_MAX_AGE to 0 with a pool"))
    return minimum, maximum


def read_django(app_dir: Path, env: Mapping[str, str], roots: list[Path] | None = None) -> DjangoApp:
    module, found_by, base = settings_module(app_dir, env, roots)
    reader = Reader(app_dir=app_dir, env=env, bases=[base, *bases(app_dir, roots)])
    path = reader.module_file(module) if module else None
    if module is None or path is None:
        app = DjangoApp(settings=None)
        _assumed(app, "manage.py" if module is None else found_by,
                 "no settings module found" if module is None else f"settings module {module} not found in the app",
                 f"give the production one with --env DJANGO_SETTINGS_MODULE=proj.settings, or {UNREAD_FIX}")
        return app
    app = DjangoApp(settings=reader.shown(path), reader=reader)
    reader.run_file(path, module)
    databases = reader.names.get("DATABASES", Unknown(f"{app.settings}: no DATABASES"))
    where = reader.lines.get("DATABASES", app.settings or "")
    if isinstance(databases, Unknown) or not isinstance(databases, dict):
        why = databases.why if isinstance(databases, Unknown) else f"{where}: DATABASES is not a dict"
        _assumed(app, why.split(": ")[0], f"DATABASES not read ({why.partition(': ')[2] or why})")
        return app
    for at in reader.skipped:
        app.problems.append(Problem(path=at, what="DATABASES changed in a block connlab does not follow (if, try, "
                                    "for, with)", fix="the figures use the assignments outside it"))
    sqlite: list[tuple[str, str]] = []
    for alias, entry in databases.items():
        at = databases.lines.get(alias, where) if isinstance(databases, Entries) else where
        if not isinstance(entry, Entries):
            app.databases.append(Database(alias=str(alias), note=f"{at} not read",
                                          unread=f"{at}: DATABASES[{alias!r}] not read"))
            app.problems.append(Problem(path=at, what=f"DATABASES[{alias!r}] not read: its connections per process "
                                        "are unknown (counted at 1)", fix=UNREAD_FIX))
            continue
        engine = entry.get("ENGINE", Unknown(f"{at}: no ENGINE"))
        if isinstance(engine, Unknown):
            variable = re.search(r"env (\w+) not given", engine.why)
            give = f"--env {variable.group(1)}=postgres://..." if variable else "--env NAME=VALUE"
            app.problems.append(Problem(path=entry.lines.get("ENGINE", at), what=f"DATABASES[{alias!r}] ENGINE not "
                                        f"read ({engine.why.partition(': ')[2]})", fix=f"assumed PostgreSQL (give the "
                                        f"env it reads: {give})"))
        elif "postgresql" not in str(engine) and "postgis" not in str(engine):
            if "sqlite" in str(engine):
                sqlite.append((str(alias), entry.lines.get("ENGINE", at)))
            continue  # not Postgres: not counted
        options = entry.get("OPTIONS", {})
        # Django: ``if not pool_options: return None`` (no pool for False, None, {} or a missing key)
        if isinstance(options, Entries) and (isinstance(options.get("pool"), Unknown) or options.get("pool")):
            if isinstance(options["pool"], Unknown):
                pool_at = options.lines.get("pool", at)
                variable = re.search(r"env (\w+) not given", options["pool"].why)
                give = f"--env {variable.group(1)}=..., or " if variable else ""
                app.problems.append(Problem(path=pool_at, what=f"DATABASES[{alias!r}] OPTIONS['pool'] not read: its "
                                            "connections per process are unknown (counted at 1)",
                                            fix=give + UNREAD_FIX))
                app.databases.append(Database(alias=str(alias), note=f"{pool_at} pool not read",
                                              unread=f"{pool_at}: DATABASES[{alias!r}] OPTIONS['pool'] not read"))
                continue
            else:
                minimum, maximum = _pool(env, app, str(alias), entry, options)
                app.databases.append(Database(alias=str(alias), note=f"pool {options.lines['pool']}",
                                              pool=(minimum, maximum)))
                continue
        age = entry.get("CONN_MAX_AGE", 0)
        text = "not read" if isinstance(age, Unknown) else "None (kept)" if age is None else \
            f"{age} (closed after each request)" if age == 0 else f"{age} (kept)"
        where_age = entry.source("CONN_MAX_AGE", env) if "CONN_MAX_AGE" in entry else \
            "default (Django: CONN_MAX_AGE 0)"
        app.databases.append(Database(alias=str(alias), note=f"CONN_MAX_AGE {text}, {where_age}",
                                      per_request=age == 0))
    if sqlite and not app.databases:
        alias, at = sqlite[0]
        reads = reader.nodes.get("DATABASES")
        text = ast.unparse(reads) if reads is not None else ""
        url = any(sign in text for sign in ("DATABASE_URL", "dj_database_url", "env.db"))
        branch = next(((w, test, names) for w, test, names in reader.not_taken if names), None)
        give = "--env DATABASE_URL=postgres://..." if url else \
            f"--env {'=..., --env '.join(branch[2])}=... ({branch[0]} sets DATABASES when `{branch[1]}`)" \
            if branch else "--env NAME=VALUE, or --env DJANGO_SETTINGS_MODULE=proj.settings.production"
        app.problems.append(Problem(path=at, what=f"DATABASES[{alias!r}] is SQLite: nothing counted on Postgres",
                                    fix="if production's database is PostgreSQL, give what the settings read: "
                                    + give))
    return app

"""Django's ``DATABASES``, read from the settings module without importing Django or running the file.

Why not run it: a settings module imports the app's own packages and third-party ones (``environ``,
``dj_database_url``, ``sentry_sdk`` ...) that need not be installed where connlab runs, and running it may
connect to services; stubbing all that would give made-up values that look real. Instead the module's top-level
statements are read with ``ast``, in order (later assignments win), following ``from .base import *`` and
``from .x import NAME`` into the project's own files, and an ``if`` whose test can be read. Understood:

* literals (dicts, lists, strings, numbers, True/False/None), names assigned earlier, ``+``, ``or``/``and``,
  ``==``/``!=``, ``in``/``not in``, ``a if t else b``, ``int()/str()/float()/bool()``
* ``os.environ.get("X", default)``, ``os.getenv``, ``os.environ["X"]``, ``os.environ.setdefault``, from the env
  connlab was given; django-environ ``env("X", default=...)``, ``env.int/str/bool(...)``, ``env.db(...)``;
  python-decouple ``config("X", default=..., cast=int)``
* ``dj_database_url.config(default=..., conn_max_age=N, env="DATABASE_URL")`` and ``.parse(url, ...)``: the
  ENGINE from the URL's scheme, CONN_MAX_AGE from ``conn_max_age`` (default 0); ``dj_database_url.DEFAULT_ENV``
  is ``"DATABASE_URL"``; an ``env=`` name that is not read (saleor's replica: set in an ``if``) leaves the
  ``default=`` URL, as dj_database_url does when the variable is not set
* ``DATABASES["default"]["CONN_MAX_AGE"] = ...`` and ``DATABASES["x"].update({...})`` afterwards
* ``django_cache_url.config()`` / ``.parse(url)`` and django-environ ``env.cache()`` for ``CACHES``: the BACKEND
  from the URL's scheme (``redis://``: django-redis), the env given, else the default (``locmem://``)

Anything else (a function of the app's own, an f-string, a loop) is "not read": only the values connlab needs
(ENGINE, CONN_MAX_AGE, OPTIONS["pool"]) must be read, and when one is not, the reader says which line and what
it assumed. Limits: assignments under an ``if`` whose test cannot be read, in ``try``/``for``/``with`` blocks or
in functions are not followed (a problem line names them when they touch ``DATABASES``); a star import of a
module outside the app folder binds nothing; every database is taken to be on the one Postgres server.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True, repr=False)
class Unknown:
    """A value not read, and why (shown in the problem line when it is one connlab needed)."""

    why: str

    def __repr__(self) -> str:  # never ``Unknown(why=...)`` in a line shown to a user
        return f"(not read: {self.why})"

    __str__ = __repr__


class Entries(dict[Any, Any]):
    """A dict read from the settings, with the file:line each key was set at and the node of its value."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, str] = {}
        self.nodes: dict[Any, ast.AST] = {}

    def source(self, key: Any, env: Mapping[str, str], fallback: str = "") -> str:
        """``file:line`` of ``key``, as ``env X (file:line)`` when its value reads an env variable that was given."""
        line = self.lines.get(key, fallback)
        node = self.nodes.get(key)
        names = env_names(node, env) if node is not None else []
        return f"env {names[0]} ({line})" if names else line


_ENV_GET = {"os.environ.get", "os.getenv", "environ.get", "getenv", "os.environ.setdefault"}
_CASTS: dict[str, Any] = {"int": int, "str": str, "float": float, "bool": bool}
_SCHEMES = {"postgres": "postgresql", "postgresql": "postgresql", "pgsql": "postgresql", "psql": "postgresql",
            "postgis": "postgis", "sqlite": "sqlite3", "mysql": "mysql", "oracle": "oracle"}


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return "?"


def env_names(node: ast.AST, env: Mapping[str, str], every: bool = False) -> list[str]:
    """The env variables ``node`` reads (os.environ.get("X") ...) that are in ``env`` (``every``: all of them):
    for a source's "env X"."""
    names = []
    for sub in ast.walk(node):
        key: ast.expr | None = None
        if isinstance(sub, ast.Call) and sub.args and (dotted(sub.func) in _ENV_GET or dotted(sub.func) == "env"
                                                       or dotted(sub.func).startswith("env.")):
            key = sub.args[0]
        elif isinstance(sub, ast.Subscript) and dotted(sub.value) in ("os.environ", "environ"):
            key = sub.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and (every or key.value in env):
            names.append(key.value)
    return names


def engine_of_url(url: Any, where: str, variable: Any = None) -> Any:
    """Django's ENGINE for a database URL (postgres://... -> django.db.backends.postgresql), as dj_database_url."""
    if not isinstance(url, str) or not url:
        return Unknown(f"{where}: env {variable} not given" if variable else f"{where}: no database URL given")
    scheme = urlsplit(url).scheme.split("+")[0].lower()
    backend = _SCHEMES.get(scheme)
    if backend is None:
        return Unknown(f"{where}: URL scheme {scheme!r} not known")
    return f"django.contrib.gis.db.backends.{backend}" if backend == "postgis" else f"django.db.backends.{backend}"


def _truth(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on", "y", "t")


@dataclass
class Reader:
    """Evaluates the top-level statements of one settings module (and what it imports from the app)."""

    app_dir: Path
    env: Mapping[str, str]
    #: more folders to find modules in (manage.py's, a server's chdir), before the app's own and its src/
    bases: list[Path] = field(default_factory=list)
    names: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, str] = field(default_factory=dict)  # name -> "file:line" of its last assignment
    nodes: dict[str, ast.AST] = field(default_factory=dict)  # name -> the value node of its last assignment
    skipped: list[str] = field(default_factory=list)  # "file:line" of DATABASES assignments not followed
    #: branches of an ``if`` not taken that set DATABASES: ("file:line", the test, the env variables it reads)
    not_taken: list[tuple[str, str, list[str]]] = field(default_factory=list)
    visiting: set[Path] = field(default_factory=set)
    where: str = ""

    # -- modules ---------------------------------------------------------------------------------------------
    def module_file(self, module: str) -> Path | None:
        for base in (*self.bases, self.app_dir, self.app_dir / "src"):
            stem = base.joinpath(*module.split("."))
            for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
                if candidate.is_file():
                    return candidate
        return None

    def shown(self, path: Path) -> str:
        return str(path.relative_to(self.app_dir)) if path.is_relative_to(self.app_dir) else str(path)

    def run_file(self, path: Path, module: str) -> None:
        if path in self.visiting:
            return
        self.visiting.add(path)
        try:
            tree = ast.parse(path.read_text(errors="replace"), filename=str(path))
        except SyntaxError as exc:
            self.names["DATABASES"] = Unknown(f"{self.shown(path)}:{exc.lineno}: not valid Python ({exc.msg})")
            return
        except (OSError, ValueError) as exc:  # unreadable, or null bytes
            self.names["DATABASES"] = Unknown(f"{self.shown(path)}: not read ({exc})")
            return
        saved, self.where = self.where, self.shown(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        self.run_body(tree.body, package)
        self.where = saved

    def run_import(self, node: ast.ImportFrom, package: str) -> None:
        base = package
        for _ in range(max(node.level - 1, 0)):
            base = base.rpartition(".")[0]
        module = f"{base}.{node.module}" if node.level and node.module else base if node.level else node.module or ""
        path = self.module_file(module)
        if path is None:
            for alias in node.names:
                if alias.name != "*":
                    self.names[alias.asname or alias.name] = Unknown(f"{alias.name} comes from {module}")
            return
        if any(alias.name == "*" for alias in node.names):
            self.run_file(path, module)
            return
        inner = Reader(app_dir=self.app_dir, env=self.env, bases=self.bases, visiting=self.visiting)
        inner.run_file(path, module)
        for alias in node.names:
            target = alias.asname or alias.name
            self.names[target] = inner.names.get(alias.name, Unknown(f"{alias.name} not found in {module}"))
            if alias.name in inner.lines:
                self.lines[target], self.nodes[target] = inner.lines[alias.name], inner.nodes[alias.name]

    # -- statements ------------------------------------------------------------------------------------------
    def run_body(self, body: list[ast.stmt], package: str) -> None:
        for statement in body:
            try:
                self.run_statement(statement, package)
            except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError):
                self.note_skipped(statement, f"{self.where}:{statement.lineno}")

    def run_statement(self, statement: ast.stmt, package: str) -> None:
        at = f"{self.where}:{statement.lineno}"
        if isinstance(statement, ast.ImportFrom):
            self.run_import(statement, package)
        elif isinstance(statement, ast.Import):
            for alias in statement.names:
                self.names[alias.asname or alias.name.split(".")[0]] = Unknown(f"module {alias.name}")
        elif isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
            value = self.value(statement.value)
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                self.assign(target, value, at, statement.value)
        elif isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
            self.names[statement.target.id] = Unknown(f"{at}: changed in place")
        elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
            self.update(statement.value, at)
        elif isinstance(statement, ast.If):
            test = self.value(statement.test)
            if isinstance(test, Unknown):
                self.note_skipped(statement, at)
            else:
                self.run_body(statement.body if test else statement.orelse, package)
                other = statement.orelse if test else statement.body
                if any(_root(t) == "DATABASES" for b in other for sub in ast.walk(b)
                       if isinstance(sub, ast.Assign | ast.AnnAssign)
                       for t in (sub.targets if isinstance(sub, ast.Assign) else [sub.target])):
                    self.not_taken.append((at, ("not " if test else "") + ast.unparse(statement.test)[:60],
                                           env_names(statement.test, {"": ""}, every=True)))
        elif not isinstance(statement, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            self.note_skipped(statement, at)

    def note_skipped(self, statement: ast.stmt, at: str) -> None:
        """A block connlab does not follow: say so when it assigns or updates DATABASES."""
        for sub in ast.walk(statement):
            touched: ast.expr
            if isinstance(sub, ast.Name | ast.Subscript) and isinstance(sub.ctx, ast.Store):
                touched = sub
            elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == "update":
                touched = sub.func.value
            else:
                continue
            if _root(touched) == "DATABASES":
                self.skipped.append(f"{self.where}:{getattr(sub, 'lineno', at)}")
                return

    def assign(self, target: ast.expr, value: Any, at: str, node: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self.names[target.id], self.lines[target.id], self.nodes[target.id] = value, at, node
        elif isinstance(target, ast.Subscript):
            container, key = self.value(target.value), self.value(target.slice)
            if isinstance(container, Entries) and not isinstance(key, Unknown):
                container[key], container.lines[key], container.nodes[key] = value, at, node
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self.assign(element, Unknown(f"{at}: unpacked"), at, node)

    def update(self, call: ast.Call, at: str) -> None:
        if isinstance(call.func, ast.Attribute) and call.func.attr == "update" and len(call.args) == 1:
            container, extra = self.value(call.func.value), self.value(call.args[0])
            if isinstance(container, Entries) and isinstance(extra, dict):
                for key, item in extra.items():
                    container[key], container.lines[key] = item, at

    # -- expressions -----------------------------------------------------------------------------------------
    def value(self, node: ast.expr) -> Any:
        try:
            return self.evaluate(node)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError) as exc:
            return Unknown(f"{self.where}:{node.lineno}: {type(exc).__name__} ({exc})")

    def evaluate(self, node: ast.expr) -> Any:
        where = f"{self.where}:{node.lineno}"
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.names.get(node.id, Unknown(f"{where}: {node.id} not defined in the settings read"))
        if isinstance(node, ast.Dict):
            entries = Entries()
            for key_node, item_node in zip(node.keys, node.values, strict=True):
                if key_node is None:
                    spread = self.value(item_node)
                    if not isinstance(spread, dict):
                        return Unknown(f"{where}: **{ast.unparse(item_node)} not read")
                    entries.update(spread)
                    continue
                key = self.value(key_node)
                if isinstance(key, Unknown):
                    return key
                entries[key], entries.lines[key] = self.value(item_node), f"{self.where}:{key_node.lineno}"
                entries.nodes[key] = item_node
            return entries
        if isinstance(node, ast.List | ast.Tuple):
            items = [self.value(element) for element in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Subscript):
            name = dotted(node.value)
            if name in ("os.environ", "environ"):
                key = self.value(node.slice)
                return self.env[key] if key in self.env else Unknown(f"{where}: env {key} not given")
            container, key = self.value(node.value), self.value(node.slice)
            return container if isinstance(container, Unknown) else key if isinstance(key, Unknown) \
                else container[key]
        if isinstance(node, ast.BoolOp):
            result = self.value(node.values[0])
            for more in node.values[1:]:
                if isinstance(result, Unknown) or (bool(result) if isinstance(node.op, ast.Or) else not result):
                    return result
                result = self.value(more)
            return result
        if isinstance(node, ast.IfExp):
            test = self.value(node.test)
            return test if isinstance(test, Unknown) else self.value(node.body if test else node.orelse)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq | ast.NotEq):
            left, right = self.value(node.left), self.value(node.comparators[0])
            if isinstance(left, Unknown) or isinstance(right, Unknown):
                return left if isinstance(left, Unknown) else right
            return (left == right) == isinstance(node.ops[0], ast.Eq)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn):
            left, right = self.value(node.left), self.value(node.comparators[0])
            if isinstance(left, Unknown) or isinstance(right, Unknown) or \
                    (isinstance(right, list | tuple) and any(isinstance(i, Unknown) for i in right)):
                return left if isinstance(left, Unknown) else Unknown(f"{where}: {ast.unparse(node)[:60]} not read")
            return (left in right) == isinstance(node.ops[0], ast.In)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
            left, right = self.value(node.left), self.value(node.right)
            if isinstance(left, Unknown) or isinstance(right, Unknown):
                return left if isinstance(left, Unknown) else right
            return left + right if isinstance(node.op, ast.Add) else left * right
        if isinstance(node, ast.Call):
            return self.call(node, where)
        if isinstance(node, ast.Attribute) and dotted(node) == "dj_database_url.DEFAULT_ENV":
            return "DATABASE_URL"  # dj_database_url: DEFAULT_ENV = "DATABASE_URL"
        return Unknown(f"{where}: {ast.unparse(node)[:60]} not read")

    def call(self, node: ast.Call, where: str) -> Any:
        name = dotted(node.func)
        args = [self.value(arg) for arg in node.args]
        kwargs = {kw.arg: _CASTS.get(dotted(kw.value)) if kw.arg == "cast" else self.value(kw.value)
                  for kw in node.keywords if kw.arg is not None}
        if any(kw.arg is None for kw in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
            return Unknown(f"{where}: {ast.unparse(node)[:60]} not read")
        if name in _CASTS and len(args) == 1:
            return args[0] if isinstance(args[0], Unknown) else _CASTS[name](args[0])
        if name.endswith(("django_cache_url.config", "django_cache_url.parse")) or name in ("env.cache",
                                                                                           "env.cache_url"):
            return self.cache_url(name, args, kwargs, where)
        if name in _ENV_GET or name == "env" or name.startswith("env.") or name == "config":
            return self.env_call(name, args, kwargs, where)
        if name.endswith(("dj_database_url.config", "dj_database_url.parse")):
            variable = kwargs.get("env", "DATABASE_URL") if name.endswith("config") else None
            if variable is not None:
                url = self.env.get(variable, kwargs.get("default")) if isinstance(variable, str) else \
                    kwargs.get("default")  # the variable's name not read: the default, when it is given
                if not isinstance(variable, str):
                    variable = None
                given = next((kw.value for kw in node.keywords if kw.arg == "default"), None)
                if isinstance(url, Unknown) and isinstance(given, ast.JoinedStr) and given.values and \
                        isinstance(given.values[0], ast.Constant) and "://" in str(given.values[0].value):
                    url = str(given.values[0].value)  # f"sqlite:///{BASE_DIR / 'db.sqlite3'}": its scheme is enough
            else:
                url = args[0] if args else kwargs.get("url")
            entries = Entries()
            entries["ENGINE"] = kwargs.get("engine") or engine_of_url(url, f"{where}: {name}", variable)
            entries["CONN_MAX_AGE"] = kwargs.get("conn_max_age", 0)
            entries.lines = {"ENGINE": where, "CONN_MAX_AGE": where}
            for keyword in node.keywords:
                if keyword.arg == "conn_max_age":
                    entries.nodes["CONN_MAX_AGE"] = keyword.value
            return entries
        return Unknown(f"{where}: `{ast.unparse(node)[:60]}` is not read without running it")

    def cache_url(self, name: str, args: list[Any], kwargs: dict[str, Any], where: str) -> Any:
        """A CACHES entry from a URL (django-cache-url ``config(default=..., env="CACHE_URL")`` / ``parse(url)``,
        django-environ ``env.cache("CACHE_URL", default=...)``): its BACKEND from the scheme, as they map it
        (``redis``/``rediss``: django-redis' RedisCache; the libraries' default ``locmem://``)."""
        if name.endswith(".parse"):
            url = args[0] if args else kwargs.get("url")
        else:
            variable = args[0] if name.startswith("env.") and args else kwargs.get("env", "CACHE_URL")
            default = kwargs.get("default", "locmem://")
            url = self.env.get(variable, default) if isinstance(variable, str) else default
        entries = Entries()
        if not isinstance(url, str):
            entries["BACKEND"] = Unknown(f"{where}: the cache URL not read")
        else:
            scheme = urlsplit(url).scheme.lower()
            entries["BACKEND"] = "django_redis.cache.RedisCache" if scheme in ("redis", "rediss", "hiredis") \
                else f"{scheme}:// (not Redis)"
        entries.lines["BACKEND"] = where
        return entries

    def env_call(self, name: str, args: list[Any], kwargs: dict[str, Any], where: str) -> Any:
        if name == "env.db" or name == "env.db_url":
            key = args[0] if args else "DATABASE_URL"
            url = self.env.get(key, kwargs.get("default")) if isinstance(key, str) else None
            entries = Entries()
            entries["ENGINE"], entries.lines["ENGINE"] = engine_of_url(url, f"{where}: {name}", key), where
            return entries
        if not args or not isinstance(args[0], str):
            return Unknown(f"{where}: {name}(...) not read")
        key = args[0]
        missing = None if name in _ENV_GET else Unknown(f"{where}: env {key} not given")  # os.environ.get: None
        default = args[1] if len(args) > 1 else kwargs.get("default", missing)
        if key not in self.env:
            return default
        raw: Any = self.env[key]
        cast = {"env.int": int, "env.float": float, "env.bool": _truth, "env.str": str}.get(name) or kwargs.get("cast")
        if cast is bool:
            cast = _truth
        return cast(raw) if callable(cast) else raw


def _root(node: ast.expr) -> str:
    while isinstance(node, ast.Subscript | ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""

"""What a Rails app uses beside its databases, read from its files with file:line: the cache store, ActionCable's
adapter, Active Job's queue adapter, resque-pool's workers.

These are Ruby (``config.cache_store = :redis_cache_store, {...}`` in config/environments/<RAILS_ENV>.rb, which
Rails loads after config/application.rb, so its line wins) or ERB in YAML (config/cable.yml,
config/resque-pool.yml). They are read as literally as is safe, never run: a symbol, a hash of literals, and the
values ``Literal`` can work out (an integer, ``ENV.fetch("X", N)``, ``ENV.fetch("X") { N }``, ``ENV["X"] || N``,
``Integer(...)``/``.to_i`` of those, with the env given). Anything else is code: its figure is unknown, naming the
file:line. Not set at all is Rails' documented default (no cache store: file_store; queue adapter: async; no
cable.yml section: no Redis).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CACHE_POOL_DEFAULT = 5  # Rails >= 7.1: ActiveSupport::Cache::Store DEFAULT_POOL_OPTIONS = { size: 5, timeout: 5 }
CONNECTION_POOL_DEFAULT = 5  # connection_pool's own default size (Rails 7.0's pool_timeout: without pool_size)


@dataclass(frozen=True, kw_only=True)
class Value:
    """A figure read from a file: the value (None: code, not read), where it came from."""

    value: int | None
    source: str


@dataclass(frozen=True, kw_only=True)
class CacheStore:
    """``config.cache_store``: the store's name and, for :redis_cache_store, its pool (size None: unpooled)."""

    store: str  # redis_cache_store, solid_cache_store, mem_cache_store, memory_store, file_store, null_store, code
    where: str  # file:line, or "default (Rails: file_store)"
    pooled: bool = False
    size: Value | None = None  # pooled: the size (value None: not read)


@dataclass(frozen=True, kw_only=True)
class Uses:
    cache: CacheStore
    cable: str  # redis, solid_cable, postgresql, async, test, "" (none)
    cable_where: str
    queue: str  # solid_queue, sidekiq, resque, delayed_job, async ... ("": not set)
    queue_where: str

    def databases(self) -> dict[str, str]:
        """The named databases this app's processes use beyond the primary, each with why: cache, queue, cable."""
        used = {}
        if self.cache.store == "solid_cache_store":
            used["cache"] = f"cache_store :solid_cache_store ({self.cache.where})"
        if self.queue == "solid_queue":
            used["queue"] = f"queue_adapter :solid_queue ({self.queue_where})"
        if self.cable == "solid_cable":
            used["cable"] = f"cable adapter solid_cable ({self.cable_where})"
        return used


_ENV_FETCH = re.compile(r"""^ENV\.fetch\(\s*["']([A-Za-z_0-9]+)["']\s*(?:,\s*(.+?)\s*\)|\)\s*\{\s*(.+?)\s*\})$""")
_ENV_OR = re.compile(r"""^ENV\[\s*["']([A-Za-z_0-9]+)["']\s*\]\s*(?:\|\|\s*(.+))?$""")


def literal(text: str, env: dict[str, str], where: str) -> Value:
    """An integer expression of ``text`` (module docstring), or a Value with value None when it is code."""
    text = text.strip()
    for wrapper in (r"^Integer\((.+)\)$", r"^\((.+)\)$", r"^(.+)\.to_i$"):
        found = re.match(wrapper, text)
        if found is not None:
            return literal(found.group(1), env, where)
    if re.fullmatch(r"-?\d+", text):
        return Value(value=int(text), source=where)
    if re.fullmatch(r"""["']-?\d+["']""", text):
        return Value(value=int(text[1:-1]), source=where)
    fetched = _ENV_FETCH.match(text)
    either = _ENV_OR.match(text)
    name, default = (fetched.group(1), fetched.group(2) or fetched.group(3)) if fetched else \
        (either.group(1), either.group(2)) if either else (None, None)
    if name is None:
        return Value(value=None, source=f"{where}: {text!r} is code")
    if name in env:
        given = env[name].strip()
        return Value(value=int(given) if given.lstrip("-").isdigit() else None, source=f"env {name} ({where})")
    if default is None:
        return Value(value=None, source=f"{where}: {name} unset, no default")
    inner = literal(default, env, where)
    return Value(value=inner.value, source=f"{where} ({name} unset)" if inner.value is not None else inner.source)


# -- Ruby statements -------------------------------------------------------------------------------------------------

def _statement(lines: list[str], start: int, at: int) -> str:
    """The text of the statement that starts at ``lines[start][at:]``, through continuation lines."""
    text, depth = "", 0
    for raw in lines[start:]:
        chunk = raw[at:] if not text else raw
        chunk = re.sub(r"\s#.*$", "", chunk)
        text += chunk + "\n"
        depth += sum(chunk.count(c) for c in "([{") - sum(chunk.count(c) for c in ")]}")
        if depth <= 0 and not chunk.rstrip().endswith((",", "\\")):
            break
    return text.strip()


def _assignment(app_dir: Path, rails_env: str, setting: str) -> tuple[str, str] | None:
    """The last ``config.<setting> = ...`` in config/environments/<env>.rb, else config/application.rb:
    (its right-hand side, file:line)."""
    pattern = re.compile(r"^\s*(?:config|Rails\.application\.config)\." + re.escape(setting) + r"\s*=(?!=)\s*")
    for rel in (f"config/environments/{rails_env}.rb", "config/application.rb"):
        path = app_dir / rel
        if not path.is_file():
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        hits = [(i, m.end()) for i, line in enumerate(lines) if (m := pattern.match(line)) is not None]
        if hits:
            i, at = hits[-1]
            return _statement(lines, i, at), f"{rel}:{i + 1}"
    return None


def _option(text: str, key: str) -> str | None:
    """The value text of ``key: value`` / ``:key => value`` in a Ruby hash's text, to the next top-level comma."""
    masked = re.sub(r"""(["'])(?:\\.|(?!\1).)*\1""", lambda m: m.group(1) + "_" * (len(m.group(0)) - 2) + m.group(1),
                    text)  # string literals' insides blanked: "redis://host" is no key, "(" no bracket
    found = re.search(r"(?:(?<![\w:])" + key + r":\s*|:" + key + r"\s*=>\s*)", masked)
    if found is None:
        return None
    depth, end = 0, len(text)
    for at in range(found.end(), len(masked)):
        char = masked[at]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                end = at
                break
            depth -= 1
        elif char == "," and depth == 0:
            end = at
            break
    return text[found.end():end].strip()


def cache_store(app_dir: Path, rails_env: str, env: dict[str, str], rails: tuple[int, int] | None) -> CacheStore:
    """``config.cache_store`` as Rails builds it (activesupport/lib/active_support/cache.rb, retrieve_pool_options):

    - Rails >= 7.1: pooled unless ``pool: false``/``nil``; ``pool: { size: N }`` merged over the default size 5;
    - Rails < 7.1 (6.1.7, 7.0.10): a pool only when ``pool_size:`` (its size) or ``pool_timeout:`` (connection_pool's
      default size 5) is given, else one Redis client per process.
    """
    found = _assignment(app_dir, rails_env, "cache_store")
    if found is None:
        return CacheStore(store="file_store", where=f"default (Rails: file_store; no config.cache_store in "
                                                    f"config/environments/{rails_env}.rb or config/application.rb)")
    text, where = found
    name = re.match(r"^\[?\s*:(\w+)", text) or re.match(r"^ActiveSupport::Cache::(\w+)\.new", text)
    if name is None:
        return CacheStore(store="code", where=where)
    store = re.sub(r"(?<!^)([A-Z])", r"_\1", name.group(1)).lower()
    if store != "redis_cache_store":
        return CacheStore(store=store, where=where)
    options = text[name.end():].strip().lstrip(",(").strip()
    pool, pool_size, timeout = _option(options, "pool"), _option(options, "pool_size"), _option(options, "pool_timeout")
    splat = "**" in options or (options and not options.startswith("{") and ":" not in options.split(",")[0])
    new = rails is None or rails >= (7, 1)
    label = "Rails >= 7.1" if rails is None else f"Rails {rails[0]}.{rails[1]}"
    given = _option(options, "redis")
    if given is not None and not re.match(r"^(->|lambda\b|proc\b|Proc\.new\b)", given):
        return _given_redis(store, where, given, env)
    if pool is not None:
        if pool in ("false", "nil"):
            return CacheStore(store=store, where=where)
        size_text = _option(pool, "size") if pool.startswith("{") else None
        if pool == "true" or (pool.startswith("{") and size_text is None):
            return CacheStore(store=store, where=where, pooled=True,
                              size=Value(value=CACHE_POOL_DEFAULT, source=f"{where} (pool: default size 5, {label})"))
        if size_text is None:
            return CacheStore(store=store, where=where, pooled=True,
                              size=Value(value=None, source=f"{where}: pool: {pool!r} is code"))
        return CacheStore(store=store, where=where, pooled=True, size=literal(size_text, env, where))
    if pool_size is not None:
        return CacheStore(store=store, where=where, pooled=True, size=literal(pool_size, env, where))
    if splat:  # options from code: a pool may be in there
        return CacheStore(store=store, where=where, pooled=True,
                          size=Value(value=None, source=f"{where}: its options are code ({options[:40]!r})"))
    if timeout is not None or new:
        why = "pool_timeout without pool_size: connection_pool's size 5" if not new else f"pooled by default, {label}"
        return CacheStore(store=store, where=where, pooled=True, size=Value(value=CACHE_POOL_DEFAULT,
                                                                            source=f"{where} ({why}: 5)"))
    return CacheStore(store=store, where=f"{where} (no pool: one client per process, {label})")


def _given_redis(store: str, where: str, given: str, env: dict[str, str]) -> CacheStore:
    """``redis: X`` (not a Proc): RedisCacheStore.build_redis returns X itself. Rails >= 7.1 wraps no pool around a
    ConnectionPool (``already_pool``), so X's own size counts; around anything else each checkout yields the same X:
    one client. A ``Redis.new(...)`` is one client; ``ConnectionPool.new(size: N)`` (or its ``Wrapper``) N; any other
    code (a constant, a method) is not read."""
    if re.match(r"^(::)?Redis(::Distributed)?\.new\b", given):
        return CacheStore(store=store, where=f"{where} (redis: {given[:30]}: one client shared by the process)")
    if re.match(r"^(::)?ConnectionPool(::Wrapper)?\.new\b", given):
        size = _option(given, "size")
        value = literal(size, env, where) if size is not None else \
            Value(value=CONNECTION_POOL_DEFAULT, source=f"{where} (redis: ConnectionPool.new: its default size 5)")
        return CacheStore(store=store, where=where, pooled=True, size=value)
    return CacheStore(store=store, where=where, pooled=True,
                      size=Value(value=None, source=f"{where}: redis: {given[:40]!r} is code (a client or a pool of "
                                                    "its own size)"))


def _symbol(text: str) -> str:
    found = re.match(r"^:?[\"']?(\w+)", text.strip())
    return found.group(1) if found else "code"


# -- YAML with ERB ---------------------------------------------------------------------------------------------------

def render_erb(text: str, env: dict[str, str]) -> str:
    """ERB as literally as is safe: ``<%= literal %>`` its value, other output tags a marker string (code)."""
    def output(found: re.Match[str]) -> str:
        value = literal(found.group(1), env, "")
        return str(value.value) if value.value is not None else f"__code__ {found.group(1).strip()}"
    text = re.sub(r"<%=(.*?)-?%>", output, text, flags=re.S)
    return re.sub(r"<%(?!=).*?%>", "", text, flags=re.S)


def yaml_lookup(text: str, path: list[str]) -> tuple[Any, int | None]:
    """The value at ``path`` in a YAML document (merge keys followed) and its 1-based line; (None, None) if absent."""
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return None, None
    line = None
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            return None, None
        found = _pair(node, key)
        if found is None:
            return None, None
        line = found[0].start_mark.line + 1
        node = found[1]
    return (node.value if isinstance(node, yaml.ScalarNode) else yaml.safe_load(yaml.serialize(node))), line


def _pair(node: yaml.MappingNode, key: str, depth: int = 0) -> tuple[Any, Any] | None:
    for k, v in reversed(node.value):
        if isinstance(k, yaml.ScalarNode) and k.value in (key, f":{key}"):
            return k, v
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == "<<" and depth < 16:
            for merged in (v.value if isinstance(v, yaml.SequenceNode) else [v]):
                if isinstance(merged, yaml.MappingNode):
                    found = _pair(merged, key, depth + 1)
                    if found is not None:
                        return found
    return None


def cable_adapter(app_dir: Path, rails_env: str, env: dict[str, str]) -> tuple[str, str]:
    """config/cable.yml's adapter for RAILS_ENV (ERB rendered as literally as is safe), with file:line."""
    path = app_dir / "config/cable.yml"
    if not path.is_file():
        return "", "no config/cable.yml"
    text = render_erb(path.read_text(encoding="utf-8", errors="replace"), env)
    value, line = yaml_lookup(text, [rails_env, "adapter"])
    if value is None:
        return "", f"config/cable.yml: no {rails_env} adapter"
    where = f"config/cable.yml:{line}"
    if not str(value).startswith("__code__"):
        return str(value), where
    code = str(value).removeprefix("__code__").strip()
    given = string_literal(code, env, where)
    return (given.value, given.source) if given.value is not None else ("code", given.source)


@dataclass(frozen=True, kw_only=True)
class Text:
    value: str | None  # None: code, not read
    source: str


def string_literal(text: str, env: dict[str, str], where: str) -> Text:
    """A string expression: ``"redis"``, ``ENV["X"]``, ``ENV["X"] || "s"``, ``ENV.fetch("X", "s")`` or
    ``ENV.fetch("X") { "s" }`` with the env given; anything else is code (its source names the env vars it reads)."""
    text = text.strip()
    quoted = re.fullmatch(r"""(["'])([\w.-]*)\1|:(\w+)""", text)
    if quoted is not None:
        return Text(value=quoted.group(2) or quoted.group(3), source=where)
    fetched, either = _ENV_FETCH.match(text), _ENV_OR.match(text)
    name, default = (fetched.group(1), fetched.group(2) or fetched.group(3)) if fetched else \
        (either.group(1), either.group(2)) if either else (None, None)
    if name is None:
        names = sorted(set(re.findall(r"""ENV(?:\.fetch\(|\[)\s*["'](\w+)""", text)))
        also = f" (reads {', '.join(names)})" if names else ""
        return Text(value=None, source=f"{where}: {text!r} is code{also}")
    if name in env:
        return Text(value=env[name].strip(), source=f"env {name} ({where})")
    if default is None:
        return Text(value=None, source=f"{where}: {name} unset, no default")
    inner = string_literal(default, env, where)
    return Text(value=inner.value, source=f"{where} ({name} unset)" if inner.value is not None else inner.source)


def queue_adapter(app_dir: Path, rails_env: str) -> tuple[str, str]:
    found = _assignment(app_dir, rails_env, "active_job.queue_adapter")
    if found is None:
        return "", "default (Rails: async; no config.active_job.queue_adapter)"
    return _symbol(found[0]), found[1]


def read_uses(app_dir: Path, env: dict[str, str], rails: tuple[int, int] | None) -> Uses:
    rails_env = env.get("RAILS_ENV", "production")
    cable, cable_where = cable_adapter(app_dir, rails_env, env)
    queue, queue_where = queue_adapter(app_dir, rails_env)
    return Uses(cache=cache_store(app_dir, rails_env, env, rails), cable=cable, cable_where=cable_where,
                queue=queue, queue_where=queue_where)

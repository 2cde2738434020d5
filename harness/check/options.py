"""What ``connlab check`` is told besides the app's files: the formation, the autoscale range, the limits, env vars
and ``--set`` overrides, from flags or from ``connlab.yaml`` beside the app (flags win).

``connlab.yaml``::

    formation: {web: 4, worker: 2}
    autoscale: {web: 2..10}            # or [2, 10]
    postgres: {max_connections: 120, superuser_reserved_connections: 3}
    redis: {maxclients: 40}
    env: {RAILS_MAX_THREADS: "5"}
    set: {web.pool: 5}

Every mistake is one ``PlanError`` line naming the flag or the file and field. The limits' flags
(``--postgres-max-connections``, ``--postgres-reserved``, ``--redis-maxclients``) are declared here
(``add_limit_arguments``) and read back for ``gather`` (``limit_arguments``), so the CLI names no server.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import yaml

from harness.check.arith import Limits
from harness.errors import PlanError

#: the library's face (tests/test_public_api.py); ``add_limit_arguments`` and ``limit_arguments`` are the CLI's
__all__ = ["Autoscale", "CheckOptions", "env_file", "gather"]

CONFIG_NAMES = ("connlab.yaml", "connlab.yml", ".connlab.yaml")
_RANGE = re.compile(r"^\s*(\d+)\s*\.\.\s*(\d+)\s*$")


@dataclass(frozen=True, kw_only=True)
class Autoscale:
    process_type: str
    low: int
    high: int


@dataclass(frozen=True, kw_only=True)
class CheckOptions:
    formation: dict[str, int]
    autoscale: Autoscale | None
    limits: Limits
    env: dict[str, str] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    config_file: Path | None = None
    #: False (``--no-eval``): the readers run nothing of the app's and read literal values only
    evaluate: bool = True


class LimitArguments(TypedDict):
    """The limits' flags, as ``gather`` takes them (None: not given)."""

    postgres_max_connections: int | None
    postgres_reserved: int | None
    redis_maxclients: int | None


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """``connlab check``'s flags for the servers' limits (over ``connlab.yaml``'s ``postgres:`` and ``redis:``)."""
    parser.add_argument("--postgres-max-connections", type=int, metavar="N")
    parser.add_argument("--postgres-reserved", type=int, metavar="N", help="superuser_reserved_connections (default 3)")
    parser.add_argument("--redis-maxclients", type=int, metavar="N")


def limit_arguments(args: argparse.Namespace) -> LimitArguments:
    """The flags of ``add_limit_arguments`` from the parsed ``args``, as ``gather``'s keywords."""
    return LimitArguments(postgres_max_connections=args.postgres_max_connections,
                          postgres_reserved=args.postgres_reserved, redis_maxclients=args.redis_maxclients)


def _pairs(text: str, where: str, problems: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            problems.append(f"{where}: {item!r} is not NAME=VALUE (e.g. web=4,worker=2)")
            continue
        found[name.strip()] = value.strip()
    return found


def _count(value: Any, where: str, problems: list[str], minimum: int = 0) -> int | None:
    try:
        number = int(str(value))
    except ValueError:
        problems.append(f"{where}: {value!r} is not a whole number")
        return None
    if number < minimum:
        problems.append(f"{where}: {number} is below {minimum}")
        return None
    return number


def _range(name: str, value: Any, where: str, problems: list[str]) -> Autoscale | None:
    if isinstance(value, list) and len(value) == 2:
        low, high = (_count(v, where, problems, 1) for v in value)
    else:
        match = _RANGE.match(str(value))
        if match is None:
            problems.append(f"{where}: {value!r} is not a range LOW..HIGH (e.g. web=2..10)")
            return None
        low, high = int(match.group(1)), int(match.group(2))
    if low is None or high is None:
        return None
    if low > high or low < 1:
        problems.append(f"{where}: {low}..{high} must go from 1 or more up to at least its start")
        return None
    return Autoscale(process_type=name, low=low, high=high)


def _config(app_dir: Path) -> tuple[Path | None, dict[str, Any]]:
    for name in CONFIG_NAMES:
        path = app_dir / name
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text())
            except yaml.YAMLError as exc:
                raise PlanError([f"{path}: not valid YAML ({str(exc).splitlines()[0]})"]) from None
            if data is not None and not isinstance(data, dict):
                raise PlanError([f"{path}: must be a mapping of formation, autoscale, postgres, redis, env, set"])
            return path, data or {}
    return None, {}


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (``export`` and quotes allowed, # comments)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise PlanError([f"--env-file {path}: cannot be read ({exc.strerror})"]) from None
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise PlanError([f"{path}:{number}: {line!r} is not KEY=VALUE"])
        found[name.strip()] = value.strip().strip("'\"")
    return found


def gather(app_dir: Path, *, formation: str | None, autoscale: str | None, postgres_max_connections: int | None,
           postgres_reserved: int | None, redis_maxclients: int | None, env: Sequence[str],
           env_files: Sequence[Path], sets: Sequence[str], evaluate: bool = True) -> CheckOptions:
    """The options from ``connlab.yaml`` in ``app_dir`` (if any), flags over them; every problem at once."""
    path, config = _config(app_dir)
    where_file = str(path) if path else ""
    problems: list[str] = []
    unknown = sorted(set(config) - {"formation", "autoscale", "postgres", "redis", "env", "set"})
    if unknown:
        problems.append(f"{where_file}: unknown key(s) {', '.join(unknown)}; allowed: formation, autoscale, "
                        "postgres, redis, env, set")

    counts: dict[str, int] = {}
    raw_formation: Mapping[str, Any] = config.get("formation") or {}
    if formation is not None:
        raw_formation = {**raw_formation, **_pairs(formation, "--formation", problems)}
    for name, value in raw_formation.items():
        number = _count(value, f"formation {name}", problems)
        if number is not None:
            counts[str(name)] = number

    scaled: Autoscale | None = None
    raw_scale: Mapping[str, Any] = config.get("autoscale") or {}
    if autoscale is not None:
        raw_scale = _pairs(autoscale, "--autoscale", problems)
    if len(raw_scale) > 1:
        problems.append("autoscale: one process type at a time (e.g. --autoscale web=2..10)")
    for name, value in list(raw_scale.items())[:1]:
        scaled = _range(str(name), value, f"autoscale {name}", problems)

    pg = config.get("postgres") or {}
    max_connections = postgres_max_connections if postgres_max_connections is not None else pg.get("max_connections")
    reserved = postgres_reserved if postgres_reserved is not None else pg.get("superuser_reserved_connections", 3)
    redis_config = config.get("redis") or {}
    maxclients = redis_maxclients if redis_maxclients is not None else redis_config.get("maxclients")
    where = "postgres max_connections"
    limits = Limits(
        postgres_max_connections=None if max_connections is None else _count(max_connections, where, problems, 1),
        postgres_reserved=_count(reserved, "postgres superuser_reserved_connections", problems) or 0,
        redis_maxclients=None if maxclients is None else _count(maxclients, "redis maxclients", problems, 1),
    )

    variables = {str(k): str(v) for k, v in (config.get("env") or {}).items()}
    for extra in env_files:
        variables.update(env_file(extra))
    for item in env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            problems.append(f"--env {item!r}: must be NAME=VALUE")
        else:
            variables[name] = value
    flags: dict[str, int] = {}
    raw_sets: dict[str, Any] = {str(k): v for k, v in (config.get("set") or {}).items()}
    for item in sets:
        raw_sets.update(_pairs(item, "--set", problems))
    for name, value in raw_sets.items():
        number = _count(value, f"--set {name}", problems)
        if number is not None:
            flags[name] = number
    if problems:
        raise PlanError(problems)
    return CheckOptions(formation=counts, autoscale=scaled, limits=limits, env=variables, flags=flags,
                        config_file=path, evaluate=evaluate)

"""A Python app's dependencies: which packages it names, and the versions it pins.

Read, without installing anything: ``requirements.txt`` (and the files it includes with ``-r``), ``pyproject.toml``
(``[project] dependencies``, ``[tool.poetry.dependencies]``), and the lock files ``poetry.lock`` and ``uv.lock``
(exact versions; they win over a requirements pin). A requirements line counts as a pin only with ``==``; its
extras (``celery[redis]``) are kept.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.check.model import Problem

#: package (normalized) -> the key it has in AppConfig.versions (psycopg 3 first: see ``read_deps``)
VERSION_KEYS = {
    "django": "django", "gunicorn": "gunicorn", "sqlalchemy": "sqlalchemy", "celery": "celery", "flask": "flask",
    "flask-sqlalchemy": "flask-sqlalchemy", "rq": "rq", "psycopg": "psycopg", "psycopg2": "psycopg2",
    "psycopg2-binary": "psycopg2",
}
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_PIN = re.compile(r"^==\s*([A-Za-z0-9.+!*-]+)\s*(?:;.*)?$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Deps:
    names: dict[str, str] = field(default_factory=dict)  # normalized name -> the file naming it first
    pins: dict[str, str] = field(default_factory=dict)  # normalized name -> exact version
    extras: dict[str, set[str]] = field(default_factory=dict)  # normalized name -> its extras (celery[redis])
    problems: list[Problem] = field(default_factory=list)

    def has(self, *names: str) -> str | None:
        """The file naming the first of ``names`` found, else None."""
        return next((self.names[n] for n in names if n in self.names), None)


def _extras(deps: Deps, name: str, written: str | None) -> None:
    if written:
        deps.extras.setdefault(name, set()).update(normalize(e.strip()) for e in written.strip("[]").split(",")
                                                   if e.strip())


def _requirements(app_dir: Path, path: Path, deps: Deps, seen: set[Path]) -> None:
    if path in seen or not path.is_file():
        return
    seen.add(path)
    shown = str(path.relative_to(app_dir)) if path.is_relative_to(app_dir) else str(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        deps.problems.append(Problem(path=shown, what=f"not read ({exc.strerror})",
                                     fix="its dependencies were not read"))
        return
    for raw in text.splitlines():
        line = raw.split(" #")[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            _requirements(app_dir, path.parent / line.split(None, 1)[1].strip(), deps, seen)
            continue
        if not line or line.startswith(("#", "-", "http:", "https:", "git+")):
            continue
        found = _REQUIREMENT.match(line)
        if found is None:
            continue
        name = normalize(found.group(1))
        deps.names.setdefault(name, shown)
        _extras(deps, name, found.group(2))
        pin = _PIN.match(found.group(3).strip())
        if pin is not None:
            deps.pins.setdefault(name, pin.group(1))


def _toml(app_dir: Path, name: str, deps: Deps) -> dict[str, Any] | None:
    path = app_dir / name
    if not path.is_file():
        return None
    try:
        return tomllib.loads(path.read_text(errors="replace"))
    except (tomllib.TOMLDecodeError, OSError) as exc:
        deps.problems.append(Problem(path=name, what=f"not valid TOML ({exc})",
                                     fix="its dependencies and versions were not read"))
        return None


def read_deps(app_dir: Path) -> Deps:
    deps = Deps()
    _requirements(app_dir, app_dir / "requirements.txt", deps, set())
    project = _toml(app_dir, "pyproject.toml", deps)
    if project is not None:
        listed: list[str] = [str(item) for item in project.get("project", {}).get("dependencies", [])]
        poetry = project.get("tool", {}).get("poetry", {}).get("dependencies", {})
        listed += [str(key) for key in poetry if key != "python"]
        for item in listed:
            found = _REQUIREMENT.match(item.strip())
            if found is not None:
                name = normalize(found.group(1))
                deps.names.setdefault(name, "pyproject.toml")
                _extras(deps, name, found.group(2))
                pin = _PIN.match(found.group(3).strip())
                if pin is not None:
                    deps.pins.setdefault(name, pin.group(1))
    for lock in ("uv.lock", "poetry.lock"):  # exact: over any requirements pin
        locked = _toml(app_dir, lock, deps)
        for package in (locked or {}).get("package", []):
            if isinstance(package, dict) and "name" in package and "version" in package:
                name = normalize(str(package["name"]))
                deps.names.setdefault(name, lock)
                deps.pins[name] = str(package["version"])
    return deps


def versions(deps: Deps) -> dict[str, str]:
    """AppConfig.versions: django, gunicorn, sqlalchemy, celery, psycopg (3; psycopg2 under its own key) ..."""
    found: dict[str, str] = {}
    for name, key in VERSION_KEYS.items():
        if name in deps.pins:
            found.setdefault(key, deps.pins[name])
    return found

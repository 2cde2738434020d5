"""A gunicorn config file's settings, for ``harness.check.python``: evaluated as gunicorn evaluates it, or
(``--no-eval``) its literal assignments only.

- Evaluated: ``gunicorn_eval.py`` runs the file in a ``Sandbox`` (as root: as the unprivileged user, on a copy of
  the app; its process group killed when it ends or at the timeout) with only the env given, and prints the
  settings. A file that raises, exits or does not finish gives no settings, and says why (``failure``).
- ``--no-eval``: nothing runs; ``ast`` reads the file. A setting bound only by plain assignments of a literal at
  the top of the module (``workers = 4``, ``worker_class = "gthread"``) is that literal, the last one; one bound
  any other way (computed, inside an ``if`` or a function, imported, augmented) is ``NotLiteral``, naming the line;
  a ``from x import *`` makes every setting not assigned after it ``NotLiteral``. A setting the file never binds
  is gunicorn's default, as when evaluated.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.check.gunicorn_eval import MARKER, NAMES
from harness.check.model import Problem
from harness.check.sandbox import Sandbox

EVAL_SCRIPT = Path(__file__).with_name("gunicorn_eval.py")
Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True, kw_only=True)
class NotLiteral:
    """A setting ``--no-eval`` did not read: the line that binds it and its code."""

    line: int
    code: str


@dataclass
class Configs:
    """Each config file read once per env (its settings or why not), in one sandbox for the whole app."""

    app_dir: Path
    evaluate: bool = True
    sandbox: Sandbox | None = None
    settings_of: dict[Key, dict[str, Any] | None] = field(default_factory=dict)
    failed: dict[Key, str] = field(default_factory=dict)  # config -> why it gave no settings
    read_literally: list[str] = field(default_factory=list)  # --no-eval: the files with a setting not literal

    def shown(self, config: Path) -> str:
        return str(config.relative_to(self.app_dir)) if config.is_relative_to(self.app_dir) else str(config)

    def settings(self, config: Path, env: Mapping[str, str], *, timeout: float) -> dict[str, Any] | None:
        """The file's settings (values, or ``NotLiteral`` with ``--no-eval``); None when it gives none."""
        key = (str(config), tuple(sorted(env.items())) if self.evaluate else ())
        if key not in self.settings_of:
            found, error = self._evaluate(config, env, timeout) if self.evaluate else literal(config)
            if error is not None:
                self.failed[key] = f"{self.shown(config)} {error}"
            self.settings_of[key] = found
            if any(isinstance(value, NotLiteral) for value in (found or {}).values()):
                self.read_literally.append(self.shown(config))
        return self.settings_of[key]

    def failure(self, config: Path, env: Mapping[str, str]) -> str:
        key = (str(config), tuple(sorted(env.items())) if self.evaluate else ())
        return self.failed.get(key, f"{config.name} not read")

    def _evaluate(self, config: Path, env: Mapping[str, str], timeout: float
                  ) -> tuple[dict[str, Any] | None, str | None]:
        if self.sandbox is None:  # what a config may import or read: the app's modules, files at the top
            self.sandbox = Sandbox(self.app_dir, suffixes=(".py", ".json", ".toml", ".ini", ".cfg", ".yaml", ".yml"))
        box = self.sandbox
        python = box.python()
        if python is None:
            return None, "could not be run (no Python that the unprivileged user can run)"
        done = box.run([python, "-I", "-B", str(box.script(EVAL_SCRIPT)), str(box.root), str(box.inside(config))],
                       env=env, timeout=timeout)
        if done.error:
            return None, done.error
        if done.timed_out:
            return None, f"did not finish in {timeout:g} s"
        lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
        if not lines:
            last = (box.unmap(done.stderr).strip().splitlines() or [""])[-1][:120]
            return None, f"exited with code {done.returncode} without its settings" + (f" ({last})" if last else "")
        answer = box.unmap(json.loads(lines[-1][len(MARKER):], object_hook=dict))
        if answer.get("error"):
            return None, f"raised {answer['error']}"
        return dict(answer.get("settings", {})), None

    def notes(self) -> list[Problem]:
        """``--no-eval``: one line naming the config files that set something by code."""
        if not self.read_literally:
            return []
        return [Problem(path=", ".join(self.read_literally), what="code not evaluated (--no-eval): only literal "
                        "assignments read, what code sets is unknown", fix="run without --no-eval on code you trust, "
                        "or give the figures with --set TYPE.field=N")]

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()


def assignments(config: Path) -> dict[str, ast.stmt]:
    """Setting name -> its last assignment in the file (for the source's line)."""
    found: dict[str, ast.stmt] = {}
    try:
        tree = ast.parse(config.read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return found
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            continue
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            if isinstance(target, ast.Name) and (target.id not in found or found[target.id].lineno < node.lineno):
                found[target.id] = node
    return found


def literal(config: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``--no-eval``: the settings the file assigns as literals, the others it binds ``NotLiteral``."""
    try:
        text = config.read_text(errors="replace")
        tree = ast.parse(text)
    except OSError as exc:
        return None, f"could not be read ({exc.strerror})"
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return None, f"is not Python ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    lines = text.splitlines()

    def code(line: int) -> str:
        shown = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        return shown if len(shown) <= 60 else shown[:57] + "..."

    binds: dict[str, list[tuple[int, Any]]] = {}  # name -> (line, value or NotLiteral)
    plain: set[int] = set()  # the Name nodes of top-level literal assignments
    stars: list[int] = []

    def bind(name: str, node: ast.AST, value: Any = None) -> None:
        if name in NAMES:
            line = getattr(node, "lineno", 0)
            binds.setdefault(name, []).append((line, NotLiteral(line=line, code=code(line)) if value is None
                                               else value))

    for stmt in tree.body:
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                try:
                    value: Any = ast.literal_eval(stmt.value)
                except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                    continue  # computed: its Name is met below
                plain.add(id(targets[0]))
                bind(targets[0].id, stmt, value if isinstance(value, int | str) and not isinstance(value, bool)
                     else repr(value))  # read as gunicorn_eval.py shows it: not a number
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del) and id(node) not in plain:
            bind(node.id, node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bind(node.name, node)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    stars.append(node.lineno)
                else:
                    bind(alias.asname or alias.name.split(".")[0], node)
    found: dict[str, Any] = {}
    for name in NAMES:
        seen = sorted(binds.get(name, []), key=lambda pair: pair[0])
        after = [line for line in stars if not seen or line > seen[-1][0]]
        if after:  # from x import * after the last binding (or with none): whatever x has
            found[name] = NotLiteral(line=after[-1], code=code(after[-1]))
        elif any(isinstance(value, NotLiteral) for _, value in seen):
            found[name] = next(value for _, value in reversed(seen) if isinstance(value, NotLiteral))
        elif seen:
            found[name] = seen[-1][1]
    return found, None

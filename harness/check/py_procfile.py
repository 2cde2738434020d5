"""A Python app's Procfile: each line's server and its arguments, past env assignments, wrappers and chains.

``web: WEB_CONCURRENCY=3 newrelic-admin run-program gunicorn -w $WEB_CONCURRENCY app:app`` is the program
``gunicorn`` with ``-w 3`` (the env of the line: the env given plus its assignments). Skipped in front: ``VAR=value``,
``exec``, ``env``, ``nice``, ``time``, ``ddtrace-run``, ``opentelemetry-instrument``, ``newrelic-admin run-program``,
``bin/start-*`` (the pgbouncer and nginx buildpacks' wrappers: pgbouncer is noted), ``sh -c "..."``. In a chain
(``python manage.py migrate && gunicorn ...``) the server's segment is read. ``python -m X`` is X; ``python
manage.py`` and ``django-admin`` are ``manage.py``.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.check.model import Problem
from harness.check.pydeps import Deps

_WRAPPERS = {"exec", "ddtrace-run", "opentelemetry-instrument", "nice", "time", "env", "newrelic-admin"}
VAR = re.compile(r"\$(?:\{(\w+)(?::?-([^}]*))?\}|(\w+))")
SERVERS = ("gunicorn", "celery", "rq", "dramatiq", "uvicorn", "granian", "uwsgi", "pyuwsgi")


@dataclass
class Command:
    """One Procfile line, the server's arguments after wrappers, env assignments and ``&&`` chains."""

    name: str
    line: int
    text: str
    program: str  # gunicorn, celery, rq, dramatiq, manage.py, or the first word
    args: list[str]
    raw: list[str]  # the same tokens before $VARIABLES were expanded
    env: dict[str, str]
    pgbouncer: bool = False


def expand(token: str, env: Mapping[str, str]) -> str:
    """``$X``, ``${X}``, ``${X:-default}`` from ``env``, as the shell running the Procfile line does."""
    def one(found: re.Match[str]) -> str:
        name = found.group(1) or found.group(3)
        return env.get(name) or (found.group(2) or "")
    return VAR.sub(one, token)


def _program(tokens: list[str]) -> tuple[str, list[str]]:
    first = os.path.basename(tokens[0])
    if re.fullmatch(r"python[\d.]*", first) and len(tokens) > 1:
        if tokens[1] == "-m" and len(tokens) > 2:
            return tokens[2].split(".")[0], tokens[3:]
        if tokens[1].endswith("manage.py"):
            return "manage.py", tokens[2:]
    return ("manage.py" if first == "django-admin" else first), tokens[1:]


def split(text: str) -> list[str] | None:
    """The shell words of ``text``, None when its quoting is broken."""
    try:
        return shlex.split(text, comments=True)
    except ValueError:
        return None


def _command(name: str, number: int, text: str, env: Mapping[str, str], problems: list[Problem]) -> Command:
    tokens = split(text)
    if tokens is None:
        problems.append(Problem(path=f"Procfile:{number}", what=f"{name}: quotes not closed", fix="fix the quoting"))
        tokens = []
    own, pgbouncer = dict(env), False
    while tokens and (re.fullmatch(r"\w+=.*", tokens[0]) or os.path.basename(tokens[0]) in _WRAPPERS
                      or os.path.basename(tokens[0]).startswith("start-") or tokens[0] in ("sh", "bash")):
        word = os.path.basename(tokens[0])
        if "=" in tokens[0] and re.fullmatch(r"\w+=.*", tokens[0]):
            key, _, value = tokens[0].partition("=")
            own[key] = expand(value, own)
        elif word in ("sh", "bash"):
            tokens = (split(tokens[2]) or []) if len(tokens) > 2 and tokens[1] == "-c" else tokens[1:]
            continue
        pgbouncer = pgbouncer or "pgbouncer" in word
        tokens = tokens[2:] if word == "newrelic-admin" else tokens[1:]
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token in ("&&", "||", ";", "|"):
            segments.append([])
        else:
            segments[-1].append(token)
    segments = [s for s in segments if s] or [[""]]
    known = [s for s in segments if _program(s)[0] in SERVERS]
    chosen = (known or segments)[0]
    program, raw = _program(chosen) if chosen[0] else ("", [])
    return Command(name=name, line=number, text=text, program=program, args=[expand(t, own) for t in raw],
                   raw=raw, env=own, pgbouncer=pgbouncer)


def procfile(app_dir: Path, env: Mapping[str, str], deps: Deps, problems: list[Problem]) -> list[Command]:
    path = app_dir / "Procfile"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        if (app_dir / "gunicorn.conf.py").is_file() or deps.has("gunicorn"):
            problems.append(Problem(path="Procfile", what="none in the app", fix="assumed `web: gunicorn` (Heroku's "
                                    "default for a Python app); add a Procfile to name the process types"))
            return [_command("web", 0, "gunicorn", env, problems)]
        problems.append(Problem(path="Procfile", what="none in the app, and no gunicorn",
                                fix="add one (`web: gunicorn app:app`, `worker: ...`) to name the process types"))
        return []
    commands = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        found = re.fullmatch(r"([A-Za-z0-9_-]+)\s*:\s*(.*)", line)
        if found is None:
            problems.append(Problem(path=f"Procfile:{number}", what=f"{line[:60]!r} is not `name: command`",
                                    fix="left out; write it as `name: command`"))
            continue
        commands.append(_command(found.group(1), number, found.group(2), env, problems))
    return commands


def options(args: list[str], spec: Mapping[str, str]) -> dict[str, tuple[int, str, str]]:
    """Setting -> (index of the token holding its value, its value, the spelling used); the last one wins."""
    found: dict[str, tuple[int, str, str]] = {}
    for index, token in enumerate(args):
        name, equals, value = token.partition("=")
        if token.startswith("--") and equals and name in spec:
            found[spec[name]] = (index, value, name)
        elif token in spec and index + 1 < len(args):
            found[spec[token]] = (index + 1, args[index + 1], token)
        elif len(token) > 2 and token[:2] in spec and not token.startswith("--"):
            found[spec[token[:2]]] = (index, token[2:], token[:2])
    return found

"""A Python app's process types (``harness.check.launchers``: the Procfile, else foreman's Procfile.x, Kamal,
compose, the Dockerfile's CMD): each command's server and its arguments, past env assignments, wrappers and chains.

``web: WEB_CONCURRENCY=3 newrelic-admin run-program gunicorn -w $WEB_CONCURRENCY app:app`` is the program
``gunicorn`` with ``-w 3`` (the env of the line: the launcher's env, the env given over it, its own assignments over
both). The wrappers skipped in front (``VAR=value``, ``exec``, ``env``, ``nice``, ``ddtrace-run``, ``newrelic-admin
run-program``, ``bin/start-pgbouncer`` (noted: Postgres sees pgbouncer's pool), ``sh -c "..."``, ``cd DIR &&``, an app's
own shell script ...) are ``wrappers.strip``'s, shared with the Rails reader. In a chain (``python manage.py migrate
&& gunicorn ...``) the server's segment is read. ``python -m X`` is X; ``python manage.py`` and ``django-admin`` are
``manage.py``. No launcher at all: no process type, and ``launchers.LOOKED`` says where connlab looked.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.check.launchers import Launch, find
from harness.check.model import Problem
from harness.check.pydeps import Deps
from harness.check.wrappers import VAR as VAR  # re-exported: the readers spell $VARS with it
from harness.check.wrappers import expand, words_of

SERVERS = ("gunicorn", "celery", "rq", "dramatiq", "uvicorn", "granian", "uwsgi", "pyuwsgi", "hypercorn", "daphne")


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
    where: str = ""  # the file and line the command came from: Procfile:3, docker-compose.yml:9 ("": Procfile:line)
    label: str = ""  # how sources name it: "Procfile web", "docker-compose.yml:9 worker"
    cwd: str = ""  # ``cd DIR &&`` in front of the server, relative to the app

    @property
    def at(self) -> str:
        return self.where or f"Procfile:{self.line}"

    @property
    def called(self) -> str:
        return self.label or f"Procfile {self.name}"


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


def is_server(words: Sequence[str]) -> bool:
    return bool(words) and _program(list(words))[0] in SERVERS


def _command(launch: Launch, env: Mapping[str, str]) -> Command:
    own = {k: v for k, v in launch.env.items() if k not in env}  # --env wins over the launcher's env
    own = {**env, **own}
    for key, value in launch.command.assignments.items():
        own[key] = expand(value, own)
    words = list(launch.command.words)
    program, raw = _program(words) if words else ("", [])
    return Command(name=launch.name, line=launch.line, text=launch.text, program=program,
                   args=[expand(t, own) for t in raw], raw=raw, env=own, pgbouncer=launch.command.pgbouncer,
                   where=launch.where, label=launch.label, cwd=launch.command.cwd)


def procfile(app_dir: Path, env: Mapping[str, str], deps: Deps, problems: list[Problem]) -> list[Command]:
    """The process types ``launchers.find`` reads, in the order of its sources; none: an empty list (the reader
    makes that incomplete, naming ``launchers.LOOKED``)."""
    found = find(app_dir, env=env, is_server=is_server)
    problems.extend(found.notes)
    if found.source == "Procfile":
        for number, raw in enumerate((app_dir / "Procfile").read_text(errors="replace").splitlines(), start=1):
            line = raw.strip()
            if line and not line.startswith("#") and re.fullmatch(r"([A-Za-z0-9_-]+)\s*:\s*(.*)", line) is None:
                problems.append(Problem(path=f"Procfile:{number}", what=f"{line[:60]!r} is not `name: command`",
                                        fix="left out; write it as `name: command`"))
    for launch in found.launches:
        if launch.command.words and words_of(launch.text) is None:  # no words: an image's CMD not read, no line
            problems.append(Problem(path=launch.where, what=f"{launch.name}: quotes not closed",
                                    fix="fix the quoting"))
    return [_command(launch, env) for launch in found.launches]


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

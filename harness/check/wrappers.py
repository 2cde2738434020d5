"""The wrappers real apps put in front of their servers, taken off one command line, for both readers (through
``harness.check.launchers``): ``VAR=value``, ``env``, ``exec``, ``bundle exec``, ``bin/thrust``, ``sh -c "..."``,
``cd DIR &&``, ``poetry``/``pipenv``/``uv run``, ``gosu USER``/``su-exec USER``, an entrypoint script given the
command (``bin/docker-entrypoint CMD...``: it ends in ``exec "$@"``), tracers (``ddtrace-run``, ``newrelic-admin
run-program``, ``opentelemetry-instrument``), inits (``tini --``, ``chpst``), the buildpacks'
``bin/start-pgbouncer[-stunnel]`` and ``bin/start-nginx`` (pgbouncer noted: Postgres then sees pgbouncer's pool),
``&&``/``;`` chains (the server's part), and an app's own shell script (``bin/start-app``) whose line runs a server.
``foreman_procfile`` says which Procfile a ``foreman start`` runs; the launchers follow it.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

IsServer = Callable[[Sequence[str]], bool]
VAR = re.compile(r"\$(?:\{(\w+)(?::?-([^}]*))?\}|(\w+))")
_WRAPPERS = {"exec", "nice", "time", "ddtrace-run", "opentelemetry-instrument", "scout-apm", "tini", "dumb-init",
             "chpst", "thrust", "newrelic-admin"}
_BUILDPACK = {"start-pgbouncer", "start-pgbouncer-stunnel", "start-stunnel", "start-nginx", "start-nginx-debug"}
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)


@dataclass(frozen=True, kw_only=True)
class Stripped:
    """A command past its wrappers: the server's words (unexpanded), the VAR=value before it, what was followed."""

    words: tuple[str, ...]
    assignments: dict[str, str] = field(default_factory=dict)
    cwd: str = ""  # ``cd DIR &&``
    pgbouncer: bool = False
    via: tuple[str, ...] = ()

def expand(token: str, env: Mapping[str, str]) -> str:
    """``$X``, ``${X}``, ``${X:-default}`` from ``env``, as the shell running the line does."""
    def one(found: re.Match[str]) -> str:
        name = found.group(1) or found.group(3)
        return env.get(name) or (found.group(2) or "")
    return VAR.sub(one, token)


def words_of(text: str) -> list[str] | None:
    """The shell words of ``text``, with ``&&``, ``||``, ``;``, ``|`` as words of their own; None: broken quoting."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:
        return None


def strip(words: Sequence[str], app_dir: Path, is_server: IsServer, depth: int = 0) -> Stripped:
    """``words`` past their wrappers, env assignments and chains: the part that runs the server."""
    segments: list[list[str]] = [[]]
    for word in words:
        if word in ("&&", "||", ";", "|", "&"):
            segments.append([])
        else:
            segments[-1].append(word)
    assignments: dict[str, str] = {}
    cwd, pgbouncer, via = "", False, []
    kept: list[list[str]] = []
    for segment in segments:
        if segment[:1] == ["cd"] and len(segment) > 1:
            cwd = os.path.normpath(os.path.join(cwd, segment[1]))
            via.append(f"cd {segment[1]}")
        elif segment and segment[0] == "export":
            assignments.update({m.group(1): m.group(2) for w in segment[1:] if (m := _ASSIGN.match(w))})
        elif segment and all(_ASSIGN.match(w) for w in segment):
            assignments.update({m.group(1): m.group(2) for w in segment if (m := _ASSIGN.match(w))})
        elif segment:
            kept.append(segment)
    chosen = next((s for s in kept if is_server(_peel(s, {}, [])[0])), kept[0] if kept else [])
    own: list[str] = []
    rest, found_pgbouncer = _peel(chosen, assignments, own)
    via.extend(own)
    pgbouncer = found_pgbouncer
    inner = _inner_shell(rest)
    if inner is not None and depth < 4:
        deeper = strip(inner, app_dir, is_server, depth + 1)
        return replace(deeper, assignments={**assignments, **deeper.assignments}, pgbouncer=pgbouncer or
                       deeper.pgbouncer, via=(*via, "sh -c", *deeper.via), cwd=deeper.cwd or cwd)
    script = _script(rest, app_dir / cwd, is_server) if depth < 4 and rest and not is_server(rest) else None
    if script is not None:
        where, text = script
        deeper = strip(words_of(text) or [], app_dir, is_server, depth + 1)
        return replace(deeper, assignments={**assignments, **deeper.assignments}, pgbouncer=pgbouncer or
                       deeper.pgbouncer, via=(*via, where, *deeper.via), cwd=deeper.cwd or cwd)
    return Stripped(words=tuple(rest), assignments=assignments, cwd=cwd, pgbouncer=pgbouncer, via=tuple(via))


def _peel(words: Sequence[str], assignments: dict[str, str], via: list[str]) -> tuple[list[str], bool]:
    """Wrappers off the front of one segment; assignments and the wrappers taken off go into the arguments."""
    rest, pgbouncer = list(words), False
    while rest:
        base = os.path.basename(rest[0])
        if (found := _ASSIGN.match(rest[0])) is not None:
            assignments[found.group(1)] = found.group(2)
            rest = rest[1:]
        elif base == "env":
            rest = _options(rest[1:], ("-u", "--unset", "-C", "--chdir"))
        elif base in ("bundle", "poetry", "pipenv", "pdm", "uv", "rye") and rest[1:2] == ["exec" if base == "bundle"
                                                                                          else "run"]:
            via.append(f"{base} {rest[1]}")
            rest = _options(rest[2:], ("--with", "--env-file", "--python", "-p", "--package", "--group", "--extra"))
        elif base in ("gosu", "su-exec") and len(rest) > 2:  # USER command: a Dockerfile entrypoint's drop of root
            via.append(f"{base} {rest[1]}")
            rest = rest[2:]
        elif "entrypoint" in base and len(rest) > 1:  # bin/docker-entrypoint CMD...: it ends in ``exec "$@"``
            via.append(rest[0])
            rest = rest[1:]
        elif base in _WRAPPERS or base in _BUILDPACK:
            via.append(rest[0])
            pgbouncer = pgbouncer or "pgbouncer" in base
            rest = rest[2:] if base == "newrelic-admin" else rest[1:]
            if base in ("tini", "dumb-init") and rest[:1] == ["--"]:
                rest = rest[1:]
            if base == "nice" and rest[:1] == ["-n"]:
                rest = rest[2:]
            if base == "chpst":
                rest = _options(rest, tuple(f"-{c}" for c in "uUbe/nlLmdopfcrt"))
            if base == "opentelemetry-instrument":
                rest = _options(rest, tuple(w for w in rest if w.startswith("--")))
        else:
            break
    return rest, pgbouncer


def _options(words: Sequence[str], valued: Sequence[str]) -> list[str]:
    """``words`` past a wrapper's leading options, the ``valued`` ones with the word after them."""
    rest = list(words)
    while rest and rest[0].startswith("-") and rest[0] != "--":
        rest = rest[2:] if rest[0] in valued else rest[1:]
    return rest[1:] if rest[:1] == ["--"] else rest


def _inner_shell(words: Sequence[str]) -> list[str] | None:
    """``sh -c "..."``, ``bash -lc '...'``: the words of the string it runs."""
    if len(words) > 2 and os.path.basename(words[0]) in ("sh", "bash", "dash", "ash", "zsh") and \
            words[1].startswith("-") and "c" in words[1]:
        return words_of(words[2])
    return None


def _script(words: Sequence[str], cwd: Path, is_server: IsServer) -> tuple[str, str] | None:
    """An app's own shell script (``bin/start-app``): (``path:line``, the text of the last line that runs a server)."""
    shell = os.path.basename(words[0]) in ("sh", "bash", "dash") and len(words) > 1
    path = cwd / words[1 if shell else 0]
    try:
        if not path.is_file() or path.stat().st_size > 100_000:
            return None
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    if not lines or not (shell or re.match(r"#!.*\b(sh|bash|dash)\b", lines[0])):
        return None
    for number in range(len(lines), 0, -1):
        line = lines[number - 1].strip()
        found = words_of(line) if line and not line.startswith("#") else None
        if found and is_server(_peel(found, {}, [])[0]):
            shown = os.path.relpath(path, cwd) if not path.is_relative_to(cwd) else str(path.relative_to(cwd))
            return f"{shown}:{number}", line
    return None


def foreman_procfile(words: Sequence[str]) -> str | None:
    """The Procfile ``foreman start [-f F]`` (also ``overmind``, ``honcho``) runs; None when ``words`` is not that."""
    if len(words) < 2 or os.path.basename(words[0]) not in ("foreman", "overmind", "honcho") or \
            words[1] not in ("start", "s"):
        return None
    for i, word in enumerate(words):
        if word in ("-f", "--procfile") and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--procfile="):
            return word.split("=", 1)[1]
    return "Procfile"

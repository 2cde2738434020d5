"""systemd service units an app ships for its servers (``contrib/netbox.service``: ``ExecStart=/opt/netbox/venv/bin/
gunicorn ... netbox.wsgi``), the launchers' source of least trust (``harness.check.launchers``).

A unit is a process type named after its file (``netbox-rq.service``: ``netbox-rq``; ``app@.service``: ``app``):
its ``[Service]`` section's last ``ExecStart=`` (the prefixes ``-@:+!`` dropped), its ``WorkingDirectory=`` (the
folder the app is installed in, whose absolute paths are the app's own files here) and its ``Environment=``
values with their lines. ``Type=oneshot`` units (housekeeping run by a timer) are no steady process and are left
out. Looked for in the app's folder and three folders down, past dependency and VCS folders.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

DEPTH = 3
_SKIP = {".git", "node_modules", "vendor", "venv", ".venv", "env", "site-packages", "tmp", "log", "public",
         "tests", "test", "spec", "docs", "doc"}


@dataclass(frozen=True, kw_only=True)
class Unit:
    name: str
    path: str  # relative to the app: contrib/netbox.service
    line: int  # ExecStart's
    command: str  # ExecStart's command as written, prefixes dropped
    workdir: str = ""  # WorkingDirectory, as written (an absolute path where the app is installed)
    env: dict[str, str] = field(default_factory=dict)
    env_where: dict[str, str] = field(default_factory=dict)


def units(app_dir: Path) -> list[Unit]:
    """The app's service units that run a command, by path."""
    found = []
    for path in _files(app_dir):
        unit = read(app_dir, path)
        if unit is not None:
            found.append(unit)
    return found


def _files(app_dir: Path) -> list[Path]:
    out: list[Path] = []
    for folder, dirs, files in os.walk(app_dir):
        depth = len(Path(folder).relative_to(app_dir).parts)
        dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.startswith(".")) if depth < DEPTH else []
        out += [Path(folder) / f for f in sorted(files) if f.endswith(".service")]
    return out


def read(app_dir: Path, path: Path) -> Unit | None:
    """One unit file's ``[Service]``: None when it runs nothing, is a oneshot, or cannot be read."""
    try:
        lines = path.read_text(errors="replace").splitlines() if path.stat().st_size < 100_000 else []
    except OSError:
        return None
    section, number = "", 0
    command, line, workdir, oneshot = "", 0, "", False
    env: dict[str, str] = {}
    env_where: dict[str, str] = {}
    rel = str(path.relative_to(app_dir))
    while number < len(lines):
        start, text = number + 1, lines[number].strip()
        while text.endswith("\\") and number + 1 < len(lines):
            number += 1
            text = text[:-1] + " " + lines[number].strip()
        number += 1
        if not text or text[0] in "#;":
            continue
        if text.startswith("["):
            section = text
            continue
        key, equals, value = text.partition("=")
        if section != "[Service]" or not equals:
            continue
        key, value = key.strip(), value.strip()
        if key == "ExecStart":
            command, line = value.lstrip("-@:+!"), start  # an empty ExecStart= resets the list: the last counts
        elif key == "WorkingDirectory":
            workdir = value.lstrip("-")
        elif key == "Type":
            oneshot = value == "oneshot"
        elif key == "Environment":
            try:
                pairs = shlex.split(value)
            except ValueError:
                continue
            for pair in pairs:
                name, has, given = pair.partition("=")
                if has:
                    env[name], env_where[name] = given, f"{rel}:{start}"
    if not command or oneshot:
        return None
    name = path.name.removesuffix(".service").split("@")[0]
    return Unit(name=name, path=rel, line=line, command=command, workdir=workdir, env=env, env_where=env_where)


def localize(words: list[str], unit: Unit, app_dir: Path) -> tuple[list[str], list[str]]:
    """``words`` with the unit's install folder (``WorkingDirectory``) read as the app's folder: ``/opt/netbox/
    gunicorn.py`` is ``gunicorn.py``, or the file of that name beside the unit when the app ships it there (NetBox's
    install guide copies ``contrib/gunicorn.py``); with what was read so, for the launcher's note."""
    root = unit.workdir.rstrip("/")
    if not root.startswith("/") or root == "":
        return words, []
    out, via = [], []
    beside = (app_dir / unit.path).parent
    for index, word in enumerate(words):
        if index == 0:  # the program: its base name is what is read
            out.append(word)
            continue
        flag, equals, value = word.partition("=") if word.startswith("--") and "=" in word else ("", "", word)
        if " " in word and root + "/" in word:  # a shell string (``bash -lc '... /srv/app/config/puma.rb'``)
            via.append(f"{root}/ read as the app's folder")
            word = word.replace(root + "/", "")
        elif value == root or value.startswith(root + "/"):
            local = os.path.relpath(value, root) if value != root else "."
            if not (app_dir / local).exists() and (beside / Path(local).name).exists() and "/" not in local:
                local = str((beside / local).relative_to(app_dir))
            via.append(f"{value} read as {local}")
            word = f"{flag}{equals}{local}"
        out.append(word)
    return out, via

"""The plain-text parts of a Rails app's config, for ``harness.check.rails``: the Procfile (each process type, what it
runs and the env its command line sets), Gemfile.lock's versions, and ``read_rails.rb`` run once for everything Ruby
has to evaluate (database.yml, puma.rb, sidekiq.yml, queue.yml), with the given env only and a timeout.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from harness.check.model import Problem, Role

RUBY_SCRIPT = Path(__file__).with_name("read_rails.rb")
RUBY_TIMEOUT_S = 30.0  # the whole subprocess
JOB_TIMEOUT_S = 5.0  # each file's evaluation, inside Ruby
ASSUMED_WEB = "bundle exec puma -C config/puma.rb"
_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.*?)\s*$")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_SPEC = re.compile(r"^    ([A-Za-z0-9_.-]+) \(([^)]+)\)\s*$")
_VERSION_KEYS = {"rails": ("rails", "railties", "activerecord"), "puma": ("puma",), "sidekiq": ("sidekiq",),
                 "solid_queue": ("solid_queue",)}


@dataclass(frozen=True, kw_only=True)
class ProcLine:
    """One Procfile line: its name, command, the words of the command and the env assignments before them."""

    name: str
    command: str
    words: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    assumed: bool = False


@dataclass(frozen=True, kw_only=True)
class Kind:
    role: Role
    server: str  # puma, unicorn, sidekiq, solid_queue, resque, resque_pool, delayed_job, rake, rails, unknown


def procfile(app_dir: Path) -> list[ProcLine]:
    """The Procfile's process types; without one, ``web: bundle exec puma -C config/puma.rb`` (assumed)."""
    path = app_dir / "Procfile"
    if not path.is_file():
        return [ProcLine(name="web", command=ASSUMED_WEB, words=tuple(ASSUMED_WEB.split()), assumed=True)]
    lines: dict[str, ProcLine] = {}  # a name given twice: the last line
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        found = _PROCFILE_LINE.match(raw.strip())
        if found is None or raw.lstrip().startswith("#"):
            continue
        command = found.group(2)
        try:
            words = shlex.split(command, comments=True)
        except ValueError:
            words = command.split()
        env: dict[str, str] = {}
        while words and (words[0] == "env" or _ASSIGNMENT.match(words[0])):
            assignment = _ASSIGNMENT.match(words.pop(0))
            if assignment is not None:
                env[assignment.group(1)] = assignment.group(2)
        lines[found.group(1)] = ProcLine(name=found.group(1), command=command, words=tuple(words), env=env)
    return list(lines.values())


def _base(word: str) -> str:
    return PurePosixPath(word).name


def classify(line: ProcLine) -> Kind:
    """What a process type runs: a web server, a job worker, a release task, or a one-off."""
    names = [_base(w) for w in line.words]
    server = "unknown"
    if "puma" in names or _rails_command(names) in ("server", "s"):
        server = "puma"
    elif "unicorn" in names or "unicorn_rails" in names:
        server = "unicorn"
    elif "sidekiq" in names or "sidekiqswarm" in names:
        server = "sidekiq"
    elif "jobs" in names or "solid_queue:start" in names:
        server = "solid_queue"
    elif "resque-pool" in names:
        server = "resque_pool"
    elif "resque:work" in names or "resque:workers" in names:
        server = "resque"
    elif "delayed_job" in names or "jobs:work" in names:
        server = "delayed_job"
    elif _rails_command(names) in ("console", "c", "runner", "r", "dbconsole"):
        server = "rails"
    elif "rake" in names or _rails_command(names) is not None:
        server = "rake"
    role: Role
    if line.name == "release":
        role = "release"
    elif server in ("puma", "unicorn") or (line.name == "web" and server == "unknown"):
        role = "web"
    elif server in ("sidekiq", "solid_queue", "resque", "resque_pool", "delayed_job"):
        role = "worker"
    else:
        role = "oneoff"
    return Kind(role=role, server=server)


def _rails_command(names: list[str]) -> str | None:
    """``rails server`` -> "server"; None when the command does not run ``rails``."""
    if "rails" not in names:
        return None
    rest = names[names.index("rails") + 1:]
    return rest[0] if rest else ""


def option(words: tuple[str, ...], *flags: str) -> str | None:
    """The value of ``-c 5``, ``-c5``, ``--concurrency 5`` or ``--concurrency=5`` (the last one given)."""
    found = None
    for i, word in enumerate(words):
        for flag in flags:
            if word == flag and i + 1 < len(words):
                found = words[i + 1]
            elif flag.startswith("--") and word.startswith(flag + "="):
                found = word.split("=", 1)[1]
            elif not flag.startswith("--") and word.startswith(flag) and len(word) > len(flag):
                found = word[len(flag):]
    return found


def gemfile_lock(app_dir: Path) -> dict[str, str]:
    """rails, puma, sidekiq (and solid_queue) from Gemfile.lock's ``specs:``; rails falls back to railties."""
    path = app_dir / "Gemfile.lock"
    if not path.is_file():
        return {}
    specs: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        found = _SPEC.match(raw)
        if found is not None:
            specs.setdefault(found.group(1), found.group(2))
    versions = {}
    for key, gems in _VERSION_KEYS.items():
        version = next((specs[g] for g in gems if g in specs), None)
        if version is not None:
            versions[key] = version
    return versions


def run_ruby(app_dir: Path, jobs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Problem]]:
    """``read_rails.rb`` over every job at once: {job id: result}, or a problem saying why Ruby gave nothing."""
    if not jobs:
        return {}, []
    files = ", ".join(sorted({str(j["path"]) for j in jobs}))
    fix = "install Ruby with Puma (apt-get install ruby puma), or give the figures with --set web.threads=N ..."
    ruby = shutil.which("ruby")
    if ruby is None:
        return {}, [Problem(path=files, what="not read: no ruby on PATH", fix=fix)]
    request = json.dumps({"app_dir": str(app_dir), "jobs": [{"timeout_s": JOB_TIMEOUT_S, **j} for j in jobs]})
    try:
        done = subprocess.run([ruby, str(RUBY_SCRIPT)], input=request, capture_output=True, text=True,
                              timeout=RUBY_TIMEOUT_S, env={"LANG": "C.UTF-8"}, cwd=app_dir, check=False)
    except subprocess.TimeoutExpired:
        return {}, [Problem(path=files, what=f"not read: Ruby did not finish within {RUBY_TIMEOUT_S:.0f} s", fix=fix)]
    try:
        answer = json.loads(done.stdout)
        results: dict[str, Any] = answer["results"]
    except (ValueError, KeyError, TypeError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {}, [Problem(path=files, what=f"not read: Ruby failed (exit {done.returncode}): {last}", fix=fix)]
    return results, []

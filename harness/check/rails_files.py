"""The plain-text parts of a Rails app's config, for ``harness.check.rails``: the process types (each one's command
from the Procfile, or the launcher ``harness.check.launchers`` finds: what it runs and the env its line gives),
Gemfile.lock's versions, and ``read_rails.rb`` run once for everything Ruby has to evaluate (database.yml, puma.rb,
sidekiq.yml, queue.yml), with the given env only and a timeout, in a ``Sandbox``.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from harness.check.launchers import LOOKED, find
from harness.check.model import Problem, Role, Setting, unknown
from harness.check.sandbox import Sandbox
from harness.check.wrappers import VAR, expand

RUBY_SCRIPT = Path(__file__).with_name("read_rails.rb")
RUBY_TIMEOUT_S = 30.0  # the whole subprocess
JOB_TIMEOUT_S = 5.0  # each file's evaluation, inside Ruby
ASSUMED_WEB = "bundle exec puma -C config/puma.rb"
_SPEC = re.compile(r"^    ([A-Za-z0-9_.-]+) \(([^)]+)\)\s*$")
_VERSION_KEYS = {"rails": ("rails", "railties", "activerecord"), "puma": ("puma",), "sidekiq": ("sidekiq",),
                 "solid_queue": ("solid_queue",)}


@dataclass(frozen=True, kw_only=True)
class ProcLine:
    """One process type's command line (``harness.check.launchers``): its name, the command as written, the server's
    words past the wrappers in front of it with ``$VARS`` expanded, and the env the line gives its process."""

    name: str
    command: str
    words: tuple[str, ...]
    #: the line's VAR=value assignments, and the launcher's env (Kamal's env clear, compose's environment) where
    #: ``--env`` does not give the same variable
    env: dict[str, str] = field(default_factory=dict)
    assumed: bool = False
    raw: tuple[str, ...] = ()  # ``words`` before $VARS were expanded
    where: str = "Procfile"  # the file and line the command came from: Procfile:3, config/deploy.yml:12
    label: str = ""  # how sources name it: "Procfile web", "config/deploy.yml:12 job"
    env_where: dict[str, str] = field(default_factory=dict)  # a launcher env var's file:line
    pgbouncer: bool = False

    @property
    def at(self) -> str:
        return self.label or f"Procfile {self.name}"

    def env_label(self, name: str) -> str:
        """Where the line's env var came from: ``Procfile web: X=1``, ``config/deploy.yml:30 (Kamal env) X=1``."""
        if name in self.env_where:
            return f"{self.env_where[name]} {name}={self.env[name]}"
        return f"{self.at}: {name}={self.env.get(name, '')}"

    def flag(self, *flags: str, fix: str) -> Setting | None:
        """A number given on the line (``-c 5``, ``-c ${SIDEKIQ_CONCURRENCY:-5}``), the env var named in its source;
        an unknown when it is no number (a variable neither ``--env`` nor the line gives); None when not given."""
        given, written = option(self.words, *flags), option(self.raw or self.words, *flags)
        if given is None or written is None:
            return None
        spelling = next((f for f in flags if f in self.raw), flags[0])
        variables = [m.group(1) or m.group(3) for m in VAR.finditer(written)]
        shown = f"{self.at}: {spelling} {written}"
        if not given.strip().isdigit():
            unset = [v for v in variables if v not in self.given_env]
            why = f" ({', '.join(unset)} not given)" if unset else " (not a number)"
            return unknown(source=shown + why, fix=f"--env {unset[0]}=N or {fix}" if unset else fix)
        if not variables:
            return Setting(value=int(given), source=f"{self.at}: {spelling} {given}")
        named = [v for v in variables if v in self.given_env]
        if named:
            where = self.env_label(named[0]) if named[0] in self.env else f"env {named[0]}"
            return Setting(value=int(given), source=f"{where} ({shown})")
        return Setting(value=int(given), source=f"{shown} ({', '.join(variables)} unset: {given})")

    #: the env variables the line's $VARS were expanded with (``--env`` and the line's own)
    given_env: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Kind:
    role: Role
    server: str  # puma, unicorn, sidekiq, solid_queue, resque, resque_pool, delayed_job, rake, rails, unknown


def procfile(app_dir: Path, env: Mapping[str, str], notes: list[Problem]) -> list[ProcLine]:
    """The process types as ``launchers.find`` reads them (Procfile, foreman's Procfile.x, Kamal, compose, the
    Dockerfile's CMD), with ``env`` (``--env``) expanding their $VARS. With no launcher at all:
    ``web: bundle exec puma -C config/puma.rb``, assumed (``bin/rails server``'s own default), noted."""
    found = find(app_dir, env=env, is_server=is_server)
    notes.extend(found.notes)
    if not found.launches:
        notes.append(Problem(path="Procfile", what=f"no launcher found (looked at: {LOOKED})",
                             fix=f"assumed `web: {ASSUMED_WEB}` (Rails' own server); add a Procfile to name the "
                             "process types"))
        words = tuple(ASSUMED_WEB.split())
        return [ProcLine(name="web", command=ASSUMED_WEB, words=words, raw=words, assumed=True)]
    lines = []
    for launch in found.launches:
        own = {k: v for k, v in launch.env.items() if k not in env}  # --env wins over the launcher's env
        line_env = dict(own)
        for key, value in launch.command.assignments.items():
            line_env[key] = expand(value, {**env, **line_env})
        given = {**env, **line_env}
        raw = launch.command.words
        if launch.command.pgbouncer:
            notes.append(Problem(path=launch.where, what=f"{launch.name} runs behind pgbouncer on the dyno: Postgres "
                                 "sees pgbouncer's pool, not these connections", fix="the figures are the app's side; "
                                 "pgbouncer's default_pool_size bounds Postgres's"))
        lines.append(ProcLine(name=launch.name, command=launch.text, words=tuple(expand(w, given) for w in raw),
                              env=line_env, raw=raw, where=launch.where, label=launch.label,
                              env_where={k: v for k, v in launch.env_where.items()
                                         if k in own and k not in launch.command.assignments},
                              pgbouncer=launch.command.pgbouncer, given_env=tuple(given)))
    return lines


def is_server(words: Sequence[str]) -> bool:
    """Whether a command runs one of the servers or workers ``classify`` knows (for the launchers' chains)."""
    return _server([_base(w) for w in words]) not in ("unknown", "rake", "rails")


def _base(word: str) -> str:
    return PurePosixPath(word).name


def classify(line: ProcLine) -> Kind:
    """What a process type runs: a web server, a job worker, a release task, or a one-off."""
    server = _server([_base(w) for w in line.words])
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


def _server(names: list[str]) -> str:
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
    return server


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


def run_ruby(app_dir: Path, jobs: list[dict[str, Any]], *, evaluate: bool = True
             ) -> tuple[dict[str, Any], list[Problem]]:
    """``read_rails.rb`` over every job at once: {job id: result}, or a problem saying why Ruby gave nothing. It runs
    in a ``Sandbox`` (as root: as the unprivileged user, on a copy of the app; its whole process group killed when
    it ends); ``evaluate=False`` (``--no-eval``): it reads literal values only, and runs nothing of the app's."""
    if not jobs:
        return {}, []
    files = ", ".join(sorted({str(j["path"]) for j in jobs}))
    fix = "install Ruby with Puma (apt-get install ruby puma), or give the figures with --set web.threads=N ..."
    # what the files may read besides themselves: config/ and lib/ (require_relative "../lib/..."), not app/
    dirs = {"config", "lib", *(PurePosixPath(str(j["path"])).parts[0] for j in jobs)}
    with Sandbox(app_dir, dirs=dirs) as box:
        ruby = box.program(["ruby"])
        if ruby is None:
            return {}, [Problem(path=files, what="not read: no ruby on PATH" + (
                "" if shutil.which("ruby") is None else " that the unprivileged user can run"), fix=fix)]
        request = json.dumps({"app_dir": str(box.root), "evaluate": evaluate,
                              "jobs": [{"timeout_s": JOB_TIMEOUT_S, **j} for j in jobs]})
        done = box.run([ruby, str(box.script(RUBY_SCRIPT))], env={"LANG": "C.UTF-8"}, timeout=RUBY_TIMEOUT_S,
                       stdin=request)
        if done.error:
            return {}, [Problem(path=files, what=f"not read: Ruby {done.error}", fix=fix)]
        if done.timed_out:
            return {}, [Problem(path=files, what=f"not read: Ruby did not finish within {RUBY_TIMEOUT_S:.0f} s",
                                fix=fix)]
        try:
            answer = json.loads(done.stdout)
            results: dict[str, Any] = box.unmap(answer["results"])
        except (ValueError, KeyError, TypeError):
            last = (box.unmap(done.stderr).strip().splitlines() or ["no output"])[-1]
            return {}, [Problem(path=files, what=f"not read: Ruby failed (exit {done.returncode}): {last}", fix=fix)]
    return results, []

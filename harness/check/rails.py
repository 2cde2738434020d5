"""Read a Rails app's config files into an ``AppConfig`` (``connlab check`` on a Rails app).

Files: the Procfile or the launcher ``launchers`` finds (process types; none: ``web: bundle exec puma``, assumed),
``config/database.yml`` (ERB and YAML aliases, the RAILS_ENV section, each database's adapter, pool and host;
DATABASE_URL and NAME_DATABASE_URL merged in as Rails does; evaluated per process type, ``Sidekiq.server?`` true
only in a Sidekiq one), ``config/puma.rb`` (on a stand-in of Puma's DSL by the rules of the Puma in Gemfile.lock,
``_PumaRules``: workers, ``threads``, ``preload_app!``), the Unicorn config the Procfile's ``unicorn -c FILE`` names
(``worker_processes``, ``preload_app``; Unicorn reads none without ``-c``), ``config/sidekiq.yml``
(concurrency, capsules),
``config/queue.yml`` (Solid Queue's workers) and Gemfile.lock (rails, puma, sidekiq). Ruby evaluates the Ruby
and ERB (``read_rails.rb``, one subprocess for all of it, with the given env and RAILS_ENV=production unless given),
so what an app reads from ENV is read exactly as in production; it runs in a ``sandbox.Sandbox`` (as root: as the
unprivileged user, on a copy). ``--no-eval``: literal values only, the rest unknown (``rails_no_eval``).

Each figure's ``Setting.source``::

    config/puma.rb:23                               a literal on that line
    env RAILS_MAX_THREADS (config/puma.rb:22)       an env var (given with --env) read on that line
    config/puma.rb:22 (RAILS_MAX_THREADS unset)     the default the line gives when the env var is unset
    Procfile web: RAILS_MAX_THREADS=8 (config/puma.rb:22)  an env assignment on the Procfile line
    Procfile web: -w 2                              an option on the Procfile command line
    env WEB_CONCURRENCY                             read by Puma itself (puma.rb sets no workers)
    default (Rails: 5) / default (Puma: 5 threads) / default (Sidekiq 7: 5)
    flag --set web.threads                          connlab check --set web.threads=N (wins over the files)

Process types: ``puma`` / ``rails server`` web (processes = workers, 0 workers = 1 process); ``unicorn`` /
``unicorn_rails`` web (processes = worker_processes, default 1; 1 thread each); ``sidekiq`` worker
(threads = concurrency, the capsules' summed; Redis per process C + 1 expected, C + 10 (Sidekiq 7+) or C + 5
(Sidekiq 6) at worst); ``bin/jobs`` (Solid Queue) worker (processes = its workers' processes, threads = their
threads + 2: its polling and heartbeat threads, as Solid Queue sizes its pool); ``release`` (1 process, 1 thread,
``db:migrate`` 2 connections on the primary: its own and the advisory lock's); anything else a one-off: 1 process,
1 thread, at most 1 connection per database. Every process holds one ``activerecord`` pool per postgresql database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from harness.check import rails_no_eval as no_eval
from harness.check.model import AppConfig, Pool, Problem, ProcessType, RedisUse, Setting, unknown
from harness.check.rails_files import ProcLine, classify, gemfile_lock, option, procfile, run_ruby
from harness.check.rails_flags import apply_flags
from harness.check.rails_per_use import TypeFacts, complete
from harness.check.rails_redis import sidekiq_server
from harness.check.rails_workers import delayed_job, resque, resque_pool
from harness.versions import sidekiq_major

POSTGRES_ADAPTERS = ("postgresql", "postgis")
RAILS_POOL_DEFAULT = 5
Event = dict[str, Any]


def read_rails(app_dir: Path, *, env: Mapping[str, str], flags: Mapping[str, int], evaluate: bool = True
               ) -> AppConfig:
    """The app's process types from its files; ``evaluate=False`` (``--no-eval``): literal values only
    (``rails_no_eval``)."""
    app_dir = app_dir.resolve()
    base_env = {"RAILS_ENV": "production", **env}
    notes: list[Problem] = []  # which launcher named the process types, Kamal's env, pgbouncer
    lines = procfile(app_dir, env, notes)
    versions = gemfile_lock(app_dir)
    jobs: list[dict[str, Any]] = []
    db_ids: dict[str, str] = {}  # one database.yml job per (env, Sidekiq as that process sees it)
    for line in lines:
        line_env = {**base_env, **line.env}
        sidekiq = _sidekiq_facts(line, versions)
        db_id = db_ids.setdefault(_db_key(line_env, sidekiq), f"db-{len(db_ids)}")
        if not any(job["id"] == db_id for job in jobs):
            jobs.append({"id": db_id, "kind": "database", "path": "config/database.yml", "env": line_env,
                         "sidekiq": sidekiq})
        path = _config_path(app_dir, line, line_env)
        if path is not None:
            kind = _JOB_KINDS[classify(line).server]
            jobs.append({"id": f"type:{line.name}", "kind": kind, "path": path, "env": line_env,
                         **({"puma_version": versions.get("puma", "")} if kind == "puma" else {})})
        if classify(line).server == "puma" and "solid_queue" in versions:  # for a plugin :solid_queue in puma.rb
            jobs.append({"id": f"queue:{line.name}", "kind": "queue", "env": line_env,
                         "path": line_env.get("SOLID_QUEUE_CONFIG") or "config/queue.yml"})
    results, problems = run_ruby(app_dir, jobs, evaluate=evaluate)
    problems[:0] = notes
    pool_fix = "--set " + ", ".join(f"{line.name}.pool=N" for line in lines
                                    if classify(line).role in ("web", "worker")) if lines else "--set web.pool=N"
    types = []
    facts: dict[str, TypeFacts] = {}
    for line in lines:
        line_env = {**base_env, **line.env}
        reader = _Reader(app_dir, line, line_env, versions, problems, pool_fix)
        databases = no_eval.pools(results.get(db_ids[_db_key(line_env, _sidekiq_facts(line, versions))]),
                                  reader.databases, line.name)
        types.append(no_eval.process_type(results.get(f"type:{line.name}"), reader.process_type, databases, line,
                                          reader.kind.server, versions))
        queue_id = f"type:{line.name}" if classify(line).server == "solid_queue" else f"queue:{line.name}"
        facts[line.name] = TypeFacts(env=line_env, server_result=results.get(f"type:{line.name}"),
                                     queue_result=results.get(queue_id),
                                     origin=partial(reader.queue_origin,
                                                    (results.get(queue_id) or {}).get("events", [])),
                                     queue_path=line_env.get("SOLID_QUEUE_CONFIG") or "config/queue.yml")
    final, advice = complete(app_dir, apply_flags(types, flags, problems, versions), facts, versions, base_env, flags)
    final = no_eval.trees(final, facts, flags, problems)
    problems += no_eval.notes(results)
    return AppConfig(framework="rails", process_types=tuple(final), versions=versions, problems=tuple(problems),
                     advice=tuple(advice))


_JOB_KINDS = {"puma": "puma", "unicorn": "unicorn", "sidekiq": "sidekiq", "solid_queue": "queue"}


def _sidekiq_facts(line: ProcLine, versions: Mapping[str, str]) -> dict[str, bool]:
    """Sidekiq as database.yml's ERB sees it in this process type: defined wherever Gemfile.lock has it (Bundler.require
    loads it in every process) or the type runs it; ``Sidekiq.server?`` true only in a Sidekiq process."""
    server = classify(line).server == "sidekiq"
    return {"defined": server or "sidekiq" in versions, "server": server}


def _db_key(env: Mapping[str, str], sidekiq: Mapping[str, bool]) -> str:
    return repr((sorted(env.items()), sorted(sidekiq.items())))


def _config_path(app_dir: Path, line: ProcLine, env: Mapping[str, str]) -> str | None:
    """The config file the process type's server reads, relative to the app; None when it reads none."""
    server = classify(line).server
    if server == "puma":
        given = option(line.words, "-C", "--config")
        rails_env = env.get("APP_ENV") or env.get("RACK_ENV") or env.get("RAILS_ENV") or "development"
        candidates = [given] if given else [f"config/puma/{rails_env}.rb", "config/puma.rb"]
    elif server == "sidekiq":
        given = option(line.words, "-C", "--config")
        candidates = [given] if given else ["config/sidekiq.yml", "config/sidekiq.yml.erb"]
    elif server == "solid_queue":
        return env.get("SOLID_QUEUE_CONFIG") or "config/queue.yml"
    elif server == "unicorn":
        given = option(line.words, "-c", "--config-file")  # no default: without -c Unicorn reads no file
        candidates = [os.path.normpath(given)] if given else []
    else:
        return None
    return next((c for c in candidates if (app_dir / c).is_file()), None)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


class _Reader:
    """One process type: its figures from the Ruby results, each with its source."""

    def __init__(self, app_dir: Path, line: ProcLine, env: dict[str, str], versions: Mapping[str, str],
                 problems: list[Problem], pool_fix: str) -> None:
        self.app_dir, self.line, self.env, self.versions, self.problems = app_dir, line, env, versions, problems
        self.pool_fix = pool_fix
        self.kind = classify(line)

    def problem(self, path: str, what: str, fix: str) -> None:
        """Each mistake once: the same line met by another type adds that type's ``--set TYPE.pool=N`` to its fix."""
        own = f"{self.line.name}.pool=N"
        for i, old in enumerate(self.problems):
            if (old.path, old.what) == (path, what):
                if old.fix != fix and fix.endswith(own) and old.fix.endswith(".pool=N") and own not in old.fix:
                    self.problems[i] = replace(old, fix=f"{old.fix}, {own}")
                return
        self.problems.append(Problem(path=path, what=what, fix=fix))

    # -- where a value came from -----------------------------------------------------------------------------
    def env_source(self, read: Event) -> str:
        name, where = read["name"], f"{read['path']}:{read['line']}"
        if not read.get("set"):
            return f"{where} ({name} unset)"
        if name in self.line.env:
            return f"{self.line.env_label(name)} ({where})"
        return f"env {name} ({where})"

    def origin(self, events: list[Event], value: int, path: str, line: int | None, *, call: Event | None = None,
               hints: tuple[str, ...] = ()) -> str:
        """A value set at ``path:line``: from the env var read that gave it, else a literal on that line.

        Without ``call`` (a YAML key), the read on that line; for a Puma DSL call, a read on the call's line, else
        the first read that returned the very object passed (a String from ENV), else the latest read of that value
        before the call, one whose name has a hint first (RAILS_MAX_THREADS before RAILS_MIN_THREADS)."""
        literal = f"{path}:{line}" if line else path
        reads = [e for e in events if e["kind"] in ("env", "cpus") and _int(e.get("value")) == value
                 and (call is None or e["seq"] < call["seq"])]
        here = [e for e in reads if e["path"] == path and e["line"] == line]
        same = [e for e in reads if call is not None and call.get("ref") is not None and e.get("ref") == call["ref"]]
        hinted = [e for e in reads if any(h in str(e.get("name", "")) for h in hints)]
        if here:
            read = here[-1]
        elif call is None:
            return literal
        elif same:
            read = same[0]
        elif hinted or reads:
            read = (hinted or reads)[-1]
        else:
            return literal
        cpus = [e for e in events if e["kind"] == "cpus" and e["line"] == read["line"] and e["path"] == read["path"]
                and _int(e.get("value")) == value]
        if cpus and (read["kind"] == "cpus" or not read.get("set")):
            where = f"{read['path']}:{read['line']}"
            self.problem(where, f"{value} from this machine's processor count, not the dyno's",
                         f"--env WEB_CONCURRENCY=N or --set {self.line.name}.processes=N")
            return f"{where} ({CPUS}: {value} here)"
        return self.env_source(read)

    def ruby_error(self, path: str, error: Mapping[str, Any], fix: str) -> None:
        where = f"{path}:{error['line']}" if error.get("line") else path
        if error.get("class") == "KeyError" and error.get("key"):
            name = error["key"]
            self.problem(where, f"ENV.fetch(\"{name}\") raised KeyError: {name} is not set",
                         f"--env {name}=... or {fix}")
        else:
            self.problem(where, f"{error.get('class')}: {error.get('message')}", fix)

    # -- config/database.yml ---------------------------------------------------------------------------------
    def databases(self, result: Mapping[str, Any] | None) -> list[tuple[str, Setting, str]]:
        """(database, pool size, server) per postgresql database; non-Postgres ones noted on the first pool.

        A pool that could not be read (database.yml raised, is missing, has no section for RAILS_ENV and there is no
        DATABASE_URL, a pool that is no number, a url that does not parse) is an unknown pool, never no pool: the
        fix names this type's ``--set TYPE.pool=N`` (and the ``--env`` that is the way out, where there is one)."""
        path = "config/database.yml"
        own = f"--set {self.line.name}.pool=N"  # per type: each type evaluates the file as its process does
        fix = own if self.kind.role in ("web", "worker") else self.pool_fix  # a one-off holds 1 whatever its pool
        if result is None:
            return [("primary", unknown(source=f"{path} not read", fix=own), "")]
        if result.get("error"):
            error = result["error"]
            self.ruby_error(path, error, fix)
            where = f"{path}:{error['line']}" if error.get("line") else path
            key = error.get("key") if error.get("class") == "KeyError" else None
            return [("primary", unknown(source=f"{where} raised {error.get('class')}",
                                        fix=f"--env {key}=... or {own}" if key else own), "")]
        events: list[Event] = result.get("events", [])
        found = result.get("databases", [])
        if not found:
            url = "--env DATABASE_URL=postgres://..."
            if not (self.app_dir / path).is_file():
                self.problem(path, "not found, and no DATABASE_URL", f"{url} or {fix}")
                return [("primary", unknown(source=f"no {path} and no DATABASE_URL", fix=f"{url} or {own}"), "")]
            env, have = result.get("env"), ", ".join(result.get("environments", [])) or "none"
            self.problem(path, f"no {env} environment (has {have}) and no DATABASE_URL",
                         f"{url}, --env RAILS_ENV=... or {fix}")
            return [("primary", unknown(source=f"{path}: no {env} environment and no DATABASE_URL",
                                        fix=f"{url} or {own}"), "")]
        primary = next((d for d in found if d["name"] == "primary"), found[0])
        out: list[tuple[str, Setting, str]] = []
        others = []
        for db in found:
            if db.get("url_error"):
                self.problem(path, f"{db['name']}: url unreadable ({db['url_error']})", fix)
                out.append((db["name"], unknown(source=f"{db['name']}: url unreadable", fix=own), ""))
                continue
            if db.get("adapter") not in POSTGRES_ADAPTERS:
                others.append(f"{db['name']} ({db.get('adapter') or 'no adapter'})")
                continue
            size = self.pool_size(db, events, path, fix, own)
            server = "" if _host(db) == _host(primary) else _host(db)
            out.append((db["name"] + ("(replica)" if db.get("replica") else ""), size, server))
        if others and out:
            first = out[0]
            note = replace(first[1], source=f"{first[1].source}; not Postgres, not counted: {', '.join(others)}")
            out[0] = (first[0], note, first[2])
        elif others:
            self.problem(path, f"no postgresql database in {result.get('env')}: {', '.join(others)}",
                         "nothing to count on Postgres; --env DATABASE_URL=postgres://... if it is Postgres")
        return out

    def pool_size(self, db: Mapping[str, Any], events: list[Event], path: str, fix: str, own: str) -> Setting:
        """The pool: a url's ``?pool=`` (DATABASE_URL merged over the section, as Rails does), the section's ``pool:``
        (Rails 8.1: ``max_connections:``), else Rails' default 5."""
        if db.get("url_pool") is not None:
            value, source = _int(db["url_pool"]), f"{db['url_from']} (pool={db['url_pool']})"
        elif db.get("pool") is not None:
            line = db.get("pool_line")
            value = _int(db["pool"])
            source = self.origin(events, value, path, line) if value is not None else ""
        else:
            return Setting(value=RAILS_POOL_DEFAULT, source=f"default (Rails: {RAILS_POOL_DEFAULT})")
        if value is None or value < 1:
            key = db.get("pool_key", "pool")
            self.problem(path, f"{db['name']}: {key} {db.get('pool')!r} is not a number", fix)
            return unknown(source=f"{path}: {db['name']}'s {key} {db.get('pool')!r} is not a number", fix=own)
        return Setting(value=value, source=source)

    # -- the process type ------------------------------------------------------------------------------------
    def process_type(self, result: Mapping[str, Any] | None, databases: list[tuple[str, Setting, str]]
                     ) -> ProcessType:
        server = self.kind.server
        given = option(self.line.words, "-C", "--config") if server in ("puma", "sidekiq") else None
        if given and not (self.app_dir / given).is_file():
            self.problem(self.line.where, f"{self.line.name}: -C {given}: no such file in the app",
                         f"--set {self.line.name}.threads=N" + (f" and --set {self.line.name}.processes=N"
                                                                if server == "puma" else ""))
        if self.kind.role == "web" and server == "puma":
            processes, threads = self.puma(result)
        elif self.kind.role == "web" and server == "unicorn":
            processes, threads = self.unicorn(result)
        elif server == "sidekiq":
            processes, threads = self.sidekiq(result)
        elif server == "solid_queue":
            processes, threads = self.solid_queue(result)
        elif server in ("resque", "resque_pool", "delayed_job"):
            processes, threads = resque(self.line, self.env) if server == "resque" else delayed_job(self.line) \
                if server == "delayed_job" else resque_pool(self.app_dir, self.line, self.env, self.problems)
        elif self.kind.role == "web":
            what = "unicorn" if server == "unicorn" else f"`{self.line.command}`"
            self.problem(self.line.where, f"{self.line.name} runs {what}: not read",
                         f"--set {self.line.name}.processes=N and --set {self.line.name}.threads=N")
            processes = unknown(source=f"{what} not read", fix=f"--set {self.line.name}.processes=N")
            threads = Setting(value=1, source="unicorn: 1 thread per process") if server == "unicorn" \
                else unknown(source=f"{what} not read", fix=f"--set {self.line.name}.threads=N")
        else:
            return self.one_off(databases)
        pools = tuple(Pool(database=name, kind="activerecord", size=size, server=host)
                      for name, size, host in databases)
        redis = _sidekiq_redis(threads.value, self.versions) if server == "sidekiq" else ()
        return ProcessType(name=self.line.name, command=self.line.command, role=self.kind.role, server=server,
                           processes=processes, threads=threads, pools=pools, redis=redis)

    def one_off(self, databases: list[tuple[str, Setting, str]]) -> ProcessType:
        what = "release" if self.kind.role == "release" else "one-off"
        if self.kind.server == "unknown":
            what = f"unknown process type {self.line.name} ({self.line.command}): counted as a one-off"
        migrate = self.kind.role == "release" and any("db:migrate" in w or "db:prepare" in w for w in self.line.words)
        threads = Setting(value=1, source=f"{what}: 1 thread")
        pools = []
        for i, (name, size, host) in enumerate(databases):
            pool = "pool unknown" if size.missing else f"pool {size.value}"  # whatever it is: at most 1 each
            connections = Setting(value=1, source=f"{what}: at most 1 connection ({pool})")
            if migrate and i == 0:
                connections = Setting(value=2, source="db:migrate: 1 + the advisory lock's own connection "
                                                      f"(Rails >= 6; {pool})")
                threads = Setting(value=2, source="db:migrate: 1 thread + the advisory lock's connection")
            pools.append(Pool(database=name, kind="activerecord", size=connections, server=host))
        return ProcessType(name=self.line.name, command=self.line.command, role=self.kind.role,
                           server=self.kind.server, processes=Setting(value=1, source=f"{what}: 1 process"),
                           threads=threads, pools=tuple(pools))

    def puma(self, result: Mapping[str, Any] | None) -> tuple[Setting, Setting]:
        """Workers and threads by the rules of the Puma version in Gemfile.lock (``_PumaRules``), puma.rb evaluated
        on read_rails.rb's stand-in DSL with the same version's ``threads``/``workers``."""
        path = self._path_of("puma")
        rules = _PumaRules.of(self.versions)
        assumed = "; web assumed (no launcher found)" if self.line.assumed else ""
        events: list[Event] = (result or {}).get("events", [])
        stopped = ""
        if result is not None and result.get("error"):
            error = result["error"]
            name = str(error.get("key") or "").upper()
            field = "processes" if any(w in name for w in ("CONCURRENCY", "WORKER", "PROCESS")) else "threads"
            fix = f"--set {self.line.name}.{field}=N" if name else \
                f"--set {self.line.name}.processes=N and --set {self.line.name}.threads=N"
            self.ruby_error(path, error, fix)
            stopped = f"{path} stopped" + (f" at line {error['line']}" if error.get("line") else "")
        calls = {e["name"]: e for e in events if e["kind"] == "dsl"}
        threads = self._puma_threads(calls.get("threads"), events, rules, stopped)
        workers = self._puma_workers(calls.get("workers"), events, rules, path, stopped)
        notes = ""
        if "preload_app!" in calls and calls["preload_app!"].get("value"):
            notes += f"; preload_app! ({path}:{calls['preload_app!']['line']})"
        for plugin in (e for e in events if e["kind"] == "dsl" and e["name"] == "plugin"):
            if plugin["value"] == "solid_queue":
                notes += (f"; plugin :solid_queue ({path}:{plugin['line']}): Solid Queue's processes run beside "
                          f"Puma, once per dyno: counted as {self.line.name}/solid_queue")
        single = workers.value == 0 and not workers.source.startswith("default")
        processes = replace(workers, value=max(workers.value, 1), source=workers.source + (
            " (0 workers: single mode, 1 process)" if single else "") + notes + assumed)
        return processes, threads

    def unicorn(self, result: Mapping[str, Any] | None) -> tuple[Setting, Setting]:
        """worker_processes from the ``-c`` file (Unicorn's default 1 without one); one thread per process."""
        threads = Setting(value=1, source="unicorn: 1 thread per process")
        given = option(self.line.words, "-c", "--config-file")
        path = self._path_of("unicorn")
        if not given:
            return Setting(value=1, source=f"default (Unicorn: 1 worker process; {self.line.name} runs unicorn "
                                           "without -c, so it reads no config file)"), threads
        if not path:
            self.problem(self.line.where, f"{self.line.name}: -c {given}: no such file in the app",
                         f"--set {self.line.name}.processes=N")
            return Setting(value=1, source=f"default (Unicorn: 1 worker process; -c {given} not found)"), threads
        events: list[Event] = (result or {}).get("events", [])
        stopped = ""
        if result is not None and result.get("error"):
            self.ruby_error(path, result["error"], f"--set {self.line.name}.processes=N")
            error = result["error"]
            stopped = f"; {path} stopped" + (f" at line {error['line']}" if error.get("line") else "")
        calls = {e["name"]: e for e in events if e["kind"] == "dsl"}
        call = calls.get("worker_processes")
        if call is None and stopped:  # the file raised before any worker_processes: not known, not the default
            processes = unknown(source=f"{stopped.removeprefix('; ')}, before any worker_processes call",
                                fix=f"--set {self.line.name}.processes=N")
        elif call is None:
            processes = Setting(value=1, source="default (Unicorn: 1 worker process)")
        else:
            value = int(call["value"])
            source = self.origin(events, value, call["path"], call["line"], call=call,
                                 hints=("CONCURRENCY", "WORKER", "PROCESS"))
            # Integer(ENV["WEB_CONCURRENCY"] || 3): the read gave nil, so name the unset variable on the line
            unset = [e["name"] for e in events if e["kind"] == "env" and not e.get("set")
                     and e["path"] == call["path"] and e["line"] == call["line"]]
            if source == f"{call['path']}:{call['line']}" and unset:
                source += f" ({unset[-1]} unset)"
            processes = unknown(source=source, fix=f"--set {self.line.name}.processes=N") \
                if source.endswith(f"({CPUS}: {value} here)") else Setting(value=value, source=source)
        preload = calls.get("preload_app")
        if preload is not None and preload.get("value"):
            processes = replace(processes, source=processes.source + f"; preload_app true ({path}:{preload['line']})")
        return processes, threads

    def _path_of(self, kind: str) -> str:
        return _config_path(self.app_dir, self.line, self.env) or {"puma": "config/puma.rb"}.get(kind, "")

    def _puma_threads(self, call: Event | None, events: list[Event], rules: _PumaRules, stopped: str) -> Setting:
        given = option(self.line.words, "-t", "--threads")
        if given is not None and _int(given.split(":")[-1]) is not None:
            return Setting(value=_int(given.split(":")[-1]) or 1, source=f"{self.line.at}: -t {given}")
        if call is not None:
            return Setting(value=int(call["value"]), source=self.origin(events, int(call["value"]), call["path"],
                                                                          call["line"], call=call, hints=("MAX",)))
        if stopped:  # the file would have set them after the line that raised: not known
            return unknown(source=f"{stopped}, before any threads call", fix=f"--set {self.line.name}.threads=N")
        for name in ("PUMA_MAX_THREADS", "MAX_THREADS"):
            if _int(self.env.get(name)) is not None:
                return Setting(value=_int(self.env[name]) or 1, source=f"{self.env_name(name)} (read by {rules.label})")
        return Setting(value=rules.max_threads, source=f"default ({rules.label}: {rules.max_threads} threads)")

    def env_name(self, name: str) -> str:
        """Where an env var Puma itself reads came from: the Procfile line's assignment, else the env given."""
        return self.line.env_label(name) if name in self.line.env else f"env {name}"

    def _puma_workers(self, call: Event | None, events: list[Event], rules: _PumaRules, path: str,
                      stopped: str) -> Setting:
        name = self.line.name
        fix = f"--set {name}.processes=N" if "WEB_CONCURRENCY" in self.line.env else \
            f"--env WEB_CONCURRENCY=N or --set {name}.processes=N"  # the Procfile line's own assignment wins over --env
        given = option(self.line.words, "-w", "--workers")
        if given is not None and _int(given) is not None:
            return Setting(value=_int(given) or 0, source=f"{self.line.at}: -w {given}")
        if call is not None and call["value"] == "auto":
            return unknown(source=f"{path}:{call['line']}: workers {call.get('given')!r}: one per processor in "
                                  f"{rules.label} (Concurrent.available_processor_count), the dyno's, not known here",
                           fix=f"--set {name}.processes=N")
        if call is not None and _int(call["value"]) is not None:
            value = _int(call["value"]) or 0
            source = self.origin(events, value, call["path"], call["line"], call=call,
                                 hints=("CONCURRENCY", "WORKER", "PROCESS"))
            if source.endswith(f"({CPUS}: {value} here)"):
                return unknown(source=source, fix=fix)
            if str(call.get("given")).strip().lower() == "auto":  # Puma < 7.2: "auto".to_i
                self.problem(f"{path}:{call['line']}", f"workers {call['given']!r} is 0 to {rules.label} (count.to_i: "
                             "single mode); workers :auto arrived in Puma 7.2", f"--set {name}.processes=N")
                source += f" (workers {call['given']!r}.to_i = 0 in {rules.label})"
            return Setting(value=value, source=source)
        if call is not None:
            self.problem(f"{path}:{call['line']}", f"workers {call['value']!r} is not a number",
                         f"--set {name}.processes=N")
            return unknown(source=f"{path}:{call['line']}: workers {call['value']!r}", fix=f"--set {name}.processes=N")
        if stopped:
            return unknown(source=f"{stopped}, before any workers call", fix=fix)
        concurrency = self.env.get("WEB_CONCURRENCY", "").strip()
        where = self.env_name("WEB_CONCURRENCY")
        if concurrency == "auto" and rules.env_auto:
            return unknown(source=f"{where}: one worker per processor in {rules.label} "
                                  "(Concurrent.available_processor_count), the dyno's, not known here", fix=fix)
        if concurrency and _int(concurrency) is None:
            why = "auto arrived in Puma 6.5" if concurrency == "auto" else "not a number"
            self.problem(where, f"{concurrency!r}: {rules.label} raises ArgumentError at boot (Integer(); {why})", fix)
            return unknown(source=f"{where}={concurrency!r}: Puma does not boot", fix=fix)
        if concurrency:
            return Setting(value=_int(concurrency) or 0, source=where)
        return Setting(value=0, source=f"default ({rules.label}: 0 workers = 1 process)")

    def sidekiq(self, result: Mapping[str, Any] | None) -> tuple[Setting, Setting]:
        path = self._path_of("sidekiq") or "config/sidekiq.yml"
        major = sidekiq_major(self.versions)
        label = f"Sidekiq {major}" + ("" if "sidekiq" in self.versions else ", assumed: no version in Gemfile.lock")
        processes = Setting(value=1, source="sidekiq: 1 process per dyno")
        result = result or {}
        error = result.get("error")
        if error:
            self.ruby_error(path, error, f"--set {self.line.name}.threads=N")
        events: list[Event] = result.get("events", [])
        given = self.line.flag("-c", "--concurrency", fix=f"--set {self.line.name}.threads=N")
        if given is not None and given.missing:
            return processes, given
        if given is None and error:  # the file raised: its concurrency is not known, not Sidekiq's default
            at = f"{path}:{error['line']}" if error.get("line") else path
            return processes, unknown(source=f"{at} raised {error.get('class')}: concurrency not read",
                                      fix=f"--set {self.line.name}.threads=N")
        if given is not None:
            value, source = given.value, given.source
        elif result.get("concurrency") is not None and _int(result["concurrency"]) is not None:
            value = _int(result["concurrency"]) or 1
            source = self.origin(events, value, path, result.get("line"))
        elif _int(self.env.get("RAILS_MAX_THREADS")) is not None:
            value = _int(self.env["RAILS_MAX_THREADS"]) or 1
            source = "env RAILS_MAX_THREADS (Sidekiq's concurrency when none is set)"
        else:
            value = 5 if major >= 7 else 10
            source = f"default ({label}: {value})"
        capsules = [c for c in result.get("capsules", []) if c.get("name") != "default"]
        if capsules and major < 7:
            source += f"; capsules ignored ({label})"
        elif capsules:
            parts = [f"{value} ({source})"]
            for capsule in capsules:
                size = _int(capsule.get("concurrency")) or value
                where = self.origin(events, size, path, capsule.get("line")) \
                    if capsule.get("line") else f"not set: {value} assumed"
                parts.append(f"capsule {capsule['name']} {size} ({where})")
                value += size
            source = " + ".join(parts) + f" = {value}"
        initializer = self.app_dir / "config/initializers/sidekiq.rb"
        if initializer.is_file() and "concurrency" in initializer.read_text(encoding="utf-8", errors="replace"):
            self.problem("config/initializers/sidekiq.rb", "sets concurrency in Ruby code: not read",
                         f"--set {self.line.name}.threads=N if it differs from {value}")
        return processes, Setting(value=value, source=source)

    def queue_origin(self, events: list[Event], value: int, line: int | None) -> str:
        """A value set on a config/queue.yml line: the env var read there, else the literal (``rails_solid``)."""
        path = self.env.get("SOLID_QUEUE_CONFIG") or "config/queue.yml"  # as _config_path for bin/jobs
        return self.origin(events, value, path, line)

    def solid_queue(self, result: Mapping[str, Any] | None) -> tuple[Setting, Setting]:
        path = self._path_of("solid_queue")
        result = result or {}
        if result.get("error"):
            self.ruby_error(path, result["error"], f"--set {self.line.name}.processes=N and .threads=N")
        events: list[Event] = result.get("events", [])
        workers = result.get("workers") if result.get("found") and not result.get("fallback") else None
        if not workers:
            why = "no workers in " + path if workers is not None else \
                f"default (Solid Queue: 1 worker process, 3 threads{'' if result.get('found') else '; no ' + path})"
            return (Setting(value=1, source=why),
                    Setting(value=5, source=f"{why}: 3 threads + 2 (polling, heartbeat)"))
        processes, procs_src, threads, threads_src = 0, [], 0, ""
        for worker in workers:
            count = _int(worker.get("processes"))
            count = 1 if count is None else count
            line = worker.get("processes_line")
            procs_src.append(self.origin(events, count, path, line) if line
                             else "default (Solid Queue: 1 process)")
            processes += count
            size = _int(worker.get("threads")) or 3
            if size >= threads:
                line = worker.get("threads_line")
                threads = size
                threads_src = self.origin(events, size, path, line) if line \
                    else "default (Solid Queue: 3 threads)"
        return (Setting(value=processes, source="Solid Queue worker processes: " + " + ".join(procs_src) +
                        "; its supervisor and dispatchers not counted"),
                Setting(value=threads + 2, source=f"{threads} threads ({threads_src}) + 2 (Solid Queue's polling "
                                                  "and heartbeat)"))


CPUS = "this machine's processor count"


@dataclass(frozen=True)
class _PumaRules:
    """How the Puma in Gemfile.lock settles workers and threads when puma.rb does not, from Puma's source
    (github.com/puma/puma, lib/puma/configuration.rb ``puma_default_options``/``puma_options_from_env`` and
    lib/puma/dsl.rb ``threads``/``workers``, read at v5.6.9, v6.0.0, v6.4.0, v6.5.0, v6.6.0, v7.0.0, v7.1.0, v7.2.1):

    - max threads: ``PUMA_MAX_THREADS || MAX_THREADS``, else ``Puma.mri? ? 5 : 16``: 5 on CRuby in 5.6 (its
      ``default_max_threads``) through 7.2 (``DEFAULTS[:max_threads]``).
    - workers: ``WEB_CONCURRENCY``, else 0 (single mode: 1 process). ``WEB_CONCURRENCY=auto`` is
      ``Concurrent.available_processor_count`` from 6.5.0 ("Set the worker process count automatically when using
      WEB_CONCURRENCY=auto", #3439) through 7.x (7.2's ``parse_workers``); before 6.5 it is ``Integer("auto")``,
      an ArgumentError: Puma does not boot.
    - the DSL (read_rails.rb's PumaDSL applies it): ``threads(min, max)`` needs both up to 6.4, ``max = min`` from
      6.5; ``workers(count)`` is ``count.to_i`` up to 7.1 (``workers "auto"`` is 0, ``workers :auto`` raises), from
      7.2 ``:auto``/``"auto"`` is the processor count.

    "auto" is the dyno's processor count, which connlab cannot know here: an unknown with the flag that gives it.
    No Puma in Gemfile.lock: the newest rules (7.2), saying so.
    """

    version: tuple[int, ...]
    label: str

    @classmethod
    def of(cls, versions: Mapping[str, str]) -> _PumaRules:
        given = versions.get("puma", "")
        parts = tuple(int(p) for p in given.split(".")[:3] if p.isdigit())
        if not parts:
            return cls(version=(7, 2, 1), label="Puma")
        return cls(version=parts, label=f"Puma {given}")

    @property
    def env_auto(self) -> bool:
        return self.version >= (6, 5)

    @property
    def max_threads(self) -> int:
        return 5


def _sidekiq_redis(concurrency: int, versions: Mapping[str, str]) -> tuple[RedisUse, ...]:
    """Redis per Sidekiq process, ``kinds.sidekiq.server_redis`` (``rails_redis.sidekiq_server``): C + 1 expected,
    C + 10 (Sidekiq 7+) or C + 5 at worst."""
    return (sidekiq_server(concurrency, versions),)


def _host(db: Mapping[str, Any]) -> str:
    host = db.get("host") or "localhost"
    return f"{host}:{db['port']}" if db.get("port") else str(host)

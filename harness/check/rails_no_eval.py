"""``connlab check --no-eval`` on a Rails app: the figures ``read_rails.rb`` did not evaluate become unknowns.

With ``evaluate: false`` read_rails.rb runs nothing of the app's (its ``Connlab::Literal``): a figure an ERB output
tag gives is nil, with an ``unevaluated`` entry (figure, path, line, code); a file whose ERB has statement tags
raises ``NotEvaluated`` as a whole; puma.rb and unicorn.rb are parsed and only their literal top-level DSL calls
replayed. Here each such figure of a process type becomes ``model.unknown`` (counted at its least, the result
incomplete) whose source says it was not evaluated because of ``--no-eval`` and whose fix names the way out: run
without ``--no-eval`` on code you trust, or the ``--set`` flag. The command line's own ``-w``, ``-t`` and ``-c``
are literal and stay; ``--set`` flags, applied after, win as ever.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from harness.check.model import Problem, ProcessType, Setting, unknown
from harness.check.rails_files import ProcLine, option
from harness.check.rails_redis import sidekiq_server

NOT_EVALUATED = "NotEvaluated"
TRUST = "run without --no-eval on code you trust"
Result = Mapping[str, Any] | None
Databases = list[tuple[str, Setting, str]]
_FIELDS = {"puma": ("processes", "threads"), "unicorn": ("processes",), "sidekiq": ("threads",),
           "solid_queue": ("processes", "threads")}
_GIVEN = {("puma", "processes"): ("-w", "--workers"), ("puma", "threads"): ("-t", "--threads"),
          ("sidekiq", "threads"): ("-c", "--concurrency")}


class _Facts(Protocol):
    @property
    def server_result(self) -> Result: ...

    @property
    def queue_result(self) -> Result: ...


def _whole(result: Result) -> Mapping[str, Any] | None:
    """The file's ``NotEvaluated`` error (statement tags: none of it read), else None."""
    error = (result or {}).get("error")
    return error if isinstance(error, Mapping) and error.get("class") == NOT_EVALUATED else None


def _marks(result: Result, figures: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """figure -> the first entry that left it unread (the whole file's error: every one of ``figures``)."""
    error = _whole(result)
    if error is not None:
        return dict.fromkeys(figures, error)
    found: dict[str, Mapping[str, Any]] = {}
    for mark in (result or {}).get("unevaluated") or []:
        if mark.get("figure") in figures:
            found.setdefault(mark["figure"], mark)
    return found


def source(mark: Mapping[str, Any]) -> str:
    where = f"{mark.get('path')}:{mark['line']}" if mark.get("line") else str(mark.get("path"))
    return f"{where}: `{mark.get('code')}` not evaluated (--no-eval)"


def not_evaluated(mark: Mapping[str, Any], flag: str) -> Setting:
    return unknown(source=source(mark), fix=f"{TRUST}, or {flag}" if flag else TRUST)


def pools(result: Result, read: Callable[[Result], Databases], name: str) -> Databases:
    """``read`` (the reader's databases) with each pool an output tag gave unknown; a database.yml with statement
    tags: one unknown primary pool."""
    own = f"--set {name}.pool=N"
    error = _whole(result)
    if error is not None:
        return [("primary", not_evaluated(error, own), "")]
    found = read(result)
    marks = {m.get("database"): m for m in reversed((result or {}).get("unevaluated") or [])
             if m.get("figure") == "pool"}
    return [(db, not_evaluated(marks[db.removesuffix("(replica)")], own)
             if db.removesuffix("(replica)") in marks else size, host) for db, size, host in found]


def process_type(result: Result, build: Callable[[Result, Databases], ProcessType], databases: Databases,
                 line: ProcLine, server: str, versions: Mapping[str, str]) -> ProcessType:
    """``build`` (the reader's process type) with the processes and threads its server's file did not give
    unknown (a Solid Queue tree: ``trees``, once it is built)."""
    built = build(None if _whole(result) else result, databases)
    if server == "solid_queue":
        return built
    for field, mark in _marks(result, _FIELDS.get(server, ())).items():
        flags = _GIVEN.get((server, field))
        if flags and option(line.words, *flags) is not None:
            continue  # given on the command line: literal
        setting = not_evaluated(mark, f"--set {line.name}.{field}=N")
        built = _with(built, field, setting)
        if server == "sidekiq" and field == "threads" and built.redis:
            built = replace(built, redis=(sidekiq_server(setting.value, versions),))
    return built


def trees(types: list[ProcessType], facts: Mapping[str, _Facts], flags: Mapping[str, int],
          problems: list[Problem]) -> list[ProcessType]:
    """Solid Queue trees (``bin/jobs``, or beside Puma under ``plugin :solid_queue``) whose queue.yml figures were
    not evaluated: unknown. A ``plugin :solid_queue`` under a condition is counted as loaded, with a note."""
    out = []
    for process in types:
        fact = facts[process.name]
        if process.server == "solid_queue":
            process = _tree(process, fact.queue_result, process.name, flags)
        if process.beside:
            plugin = _marks(fact.server_result, ("solid_queue",)).get("solid_queue")
            if plugin is not None:
                where, _, what = source(plugin).partition(": ")
                problems.append(Problem(path=where, what=f"{what}: Solid Queue counted as running in Puma",
                                        fix=f"{TRUST} to know whether it does"))
            process = replace(process, beside=tuple(_tree(b, fact.queue_result, "", flags) for b in process.beside))
        out.append(process)
    return out


def _tree(process: ProcessType, result: Result, name: str, flags: Mapping[str, int]) -> ProcessType:
    for field, mark in _marks(result, ("processes", "threads")).items():
        if name and f"{name}.{field}" in flags:
            continue
        old: Setting = getattr(process, field)
        setting = not_evaluated(mark, f"--set {name}.{field}=N" if name else "")
        process = _with(process, field, replace(setting, source=f"{setting.source}; counted as {old.source}"))
    return process


def _with(process: ProcessType, field: str, setting: Setting) -> ProcessType:
    return replace(process, processes=setting) if field == "processes" else replace(process, threads=setting)


def notes(results: Mapping[str, Any]) -> list[Problem]:
    """One line naming the files whose code was not evaluated, when any was not."""
    files: dict[str, None] = {}
    for result in results.values():
        for mark in [*((result or {}).get("unevaluated") or []), *filter(None, [_whole(result)])]:
            files.setdefault(str(mark.get("path")), None)
    if not files:
        return []
    return [Problem(path=", ".join(files), what="code not evaluated (--no-eval): what it gives is unknown",
                    fix=f"{TRUST}, or give the figures with --set TYPE.field=N")]

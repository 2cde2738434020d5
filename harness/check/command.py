"""``connlab check APP_DIR``: read the app, do the arithmetic for its formation, sweep the autoscale range, advise.

``check(app_dir, options)`` is the whole answer as a ``CheckResult``;
``document`` turns it into ``--json``'s output and ``show`` into tables with
the source of every figure. The status over the range decides the exit code
(the CLI maps it), the most severe first: ``exhausts`` somewhere (the expected
count does, even counting every unknown figure at its least), ``incomplete``
(a figure in a total is unknown: ``missing`` names each one and the flag that
supplies it), ``at-risk`` somewhere (only the worst case goes over), else
``fits`` everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.check.arith import INCOMPLETE, ResourceFigure, Sweep, figures, pgbouncer_advice, pool_advice, sweep
from harness.check.launchers import LOOKED
from harness.check.model import AppConfig, ProcessType
from harness.check.options import CheckOptions
from harness.errors import PlanError
from harness.predict import AT_RISK, EXHAUSTS, FITS

__all__ = ["CheckResult", "check", "detect", "document", "read_app", "show"]


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    app_dir: Path
    app: AppConfig
    options: CheckOptions
    postgres: ResourceFigure
    redis: ResourceFigure
    sweep: Sweep | None
    advice: tuple[str, ...]
    status: str
    #: every unknown figure that enters a total, with the flag that supplies it (the result is then incomplete)
    missing: tuple[str, ...] = ()


def detect(app_dir: Path) -> str:
    """``rails`` (config/database.yml or a Gemfile) or ``python``."""
    if (app_dir / "config" / "database.yml").is_file() or (app_dir / "Gemfile").is_file():
        return "rails"
    return "python"


def read_app(app_dir: Path, options: CheckOptions) -> AppConfig:
    if not app_dir.is_dir():
        raise PlanError([f"{app_dir}: not a folder (connlab check APP_DIR reads the app's config files)"])
    if detect(app_dir) == "rails":
        from harness.check.rails import read_rails

        return read_rails(app_dir, env=options.env, flags=options.flags, evaluate=options.evaluate)
    from harness.check.python import read_python

    return read_python(app_dir, env=options.env, flags=options.flags, evaluate=options.evaluate)


def _status(statuses: list[str]) -> str:
    for severe in (EXHAUSTS, INCOMPLETE, AT_RISK):
        if severe in statuses:
            return severe
    return FITS


def check(app_dir: Path, options: CheckOptions) -> CheckResult:
    app = read_app(app_dir, options)
    names = {p.name for p in app.process_types}
    unknown = sorted(set(options.formation) - names)
    scale = options.autoscale
    if scale is not None and scale.process_type not in names:
        unknown.append(scale.process_type)
    if unknown:
        has = f"it has {', '.join(sorted(names))}" if names else f"connlab found none; it looked at: {LOOKED}"
        raise PlanError([f"--formation/--autoscale: no process type {name!r} in the app ({has})" for name in unknown])
    formation = dict(options.formation)
    swept = None
    if scale is not None:
        swept = sweep(app, formation, options.limits, process_type=scale.process_type, low=scale.low, high=scale.high)
        formation.setdefault(scale.process_type, scale.low)
    postgres, redis = figures(app, formation, options.limits)
    checked = [postgres, redis] if swept is None else [r for p in swept.points for r in (p.postgres, p.redis)]
    top = swept.points[-1].postgres if swept is not None else postgres
    advice = [*pool_advice(app), *app.advice, *([pgbouncer_advice(top)] if top.worst_case > 0 else [])]
    missing = tuple(dict.fromkeys([*(p.line() for p in app.problems if p.incomplete),
                                   *(m for r in checked for m in r.missing)]))
    statuses = [r.status for r in checked if r.capacity is not None or r.missing]
    return CheckResult(app_dir=app_dir, app=app, options=options, postgres=postgres, redis=redis, sweep=swept,
                       advice=tuple(advice), status=_status(statuses + ([INCOMPLETE] if missing else [])),
                       missing=missing)


def _process(process: ProcessType) -> dict[str, Any]:
    return {
        "name": process.name, "role": process.role, "server": process.server, "command": process.command,
        "processes": {"value": process.processes.value, "source": process.processes.source},
        "threads": {"value": process.threads.value, "source": process.threads.source},
        "pools": [{"database": p.database, "kind": p.kind, "size": p.size.value, "source": p.size.source,
                   **({"max_overflow": p.overflow.value, "max_overflow_source": p.overflow.source}
                      if p.overflow else {}),
                   **({"min_size": p.min_size.value, "min_size_source": p.min_size.source} if p.min_size else {}),
                   **({"server": p.server} if p.server else {})} for p in process.pools],
        "redis": [{"what": u.what, "expected": u.expected.value, "worst_case": u.worst.value,
                   "source": u.worst.source} for u in process.redis],
        **({"beside": [_process(b) for b in process.beside]} if process.beside else {}),
    }


def _resource(figure: ResourceFigure) -> dict[str, Any]:
    return {
        "name": figure.name, "capacity": figure.capacity, "expected": figure.expected,
        "worst_case": figure.worst_case, "status": figure.status, "missing": list(figure.missing),
        "types": [{"name": t.name, "role": t.role, "dynos": t.dynos, "expected": t.expected,
                   "worst_case": t.worst_case, "formula": t.formula} for t in figure.types],
        **({"release": {"expected": figure.release.expected, "worst_case": figure.release.worst_case,
                        "formula": figure.release.formula}} if figure.release else {}),
    }


def document(result: CheckResult) -> dict[str, Any]:
    swept = result.sweep
    return {
        "app_dir": str(result.app_dir), "framework": result.app.framework, "versions": result.app.versions,
        "status": result.status,
        "process_types": [_process(p) for p in result.app.process_types],
        "resources": [_resource(result.postgres), _resource(result.redis)],
        "autoscale": None if swept is None else {
            "process_type": swept.process_type,
            "largest_fitting": {r: swept.largest_fitting(r) for r in ("postgres", "redis")},
            "first_exhausting": {r: swept.first_exhausting(r) for r in ("postgres", "redis")},
            "points": [{"dynos": p.dynos, "postgres": {"expected": p.postgres.expected,
                                                       "worst_case": p.postgres.worst_case,
                                                       "status": p.postgres.status},
                        "redis": {"expected": p.redis.expected, "worst_case": p.redis.worst_case,
                                  "status": p.redis.status}} for p in swept.points],
        },
        "advice": list(result.advice),
        "problems": [p.line() for p in result.app.problems],
        "missing": list(result.missing),
    }


def show(console: Console, result: CheckResult) -> None:
    app = result.app
    versions = ", ".join(f"{k} {v}" for k, v in app.versions.items())
    console.print(f"[bold]{result.app_dir}[/bold]: {app.framework}" + (f" ({versions})" if versions else ""))
    types = Table(title="process types", title_justify="left")
    for column in ("type", "role", "server", "processes / dyno", "threads / process", "pools"):
        types.add_column(column)
    for p in (t for process in app.process_types for t in (process, *process.beside)):
        pools = "; ".join(f"{pool.database} {pool.kind} {pool.size.value} ({pool.size.source})" for pool in p.pools)
        types.add_row(p.name, p.role, p.server, f"{p.processes.value} ({p.processes.source})",
                      f"{p.threads.value} ({p.threads.source})", pools or "-")
    console.print(types)
    for figure in (result.postgres, result.redis):
        if not figure.types and figure.release is None:
            continue
        table = Table(title=f"{figure.name}: capacity {figure.capacity if figure.capacity is not None else '?'}, "
                            f"{figure.status}", title_justify="left")
        for column in ("type", "dynos", "expected", "worst case", "how"):
            table.add_column(column, justify="left" if column in ("type", "how") else "right")
        for t in figure.types:
            table.add_row(t.name, str(t.dynos), str(t.expected), str(t.worst_case), t.formula)
        least = ">= " if figure.missing else ""  # unknown figures counted at their least
        table.add_row("[bold]total[/bold]", "", f"[bold]{least}{figure.expected}[/bold]",
                      f"[bold]{least}{figure.worst_case}[/bold]", "unknown figures counted at their least (1)"
                      if figure.missing else "")
        if figure.release is not None:
            table.add_row("release (deploys only)", "", str(figure.release.expected), str(figure.release.worst_case),
                          "not in the total: " + figure.release.formula, style="dim")
        console.print(table)
    swept = result.sweep
    if swept is not None:
        table = Table(title=f"autoscale {swept.process_type} {swept.points[0].dynos}..{swept.points[-1].dynos}",
                      title_justify="left")
        for column in ("dynos", "postgres expected / worst", "status", "redis expected / worst", "status"):
            table.add_column(column)
        for point in swept.points:
            table.add_row(str(point.dynos), f"{point.postgres.expected} / {point.postgres.worst_case}",
                          point.postgres.status, f"{point.redis.expected} / {point.redis.worst_case}",
                          point.redis.status)
        console.print(table)
        for resource in ("postgres", "redis"):
            fits, exhausts = swept.largest_fitting(resource), swept.first_exhausting(resource)
            console.print(f"{resource}: largest {swept.process_type} count that fits: "
                          f"{fits if fits is not None else 'none'}; first that exhausts: "
                          f"{exhausts if exhausts is not None else 'none in the range'}")
    for line in result.advice:
        console.print(f"advice: {line}")
    for problem in app.problems:
        if not problem.incomplete:
            console.print(f"[yellow]note[/yellow]: {problem.line()}")
    for line in result.missing:
        console.print(f"[red]unknown[/red]: {line}")
    if result.missing:
        console.print("status: incomplete: the figures above are not known, so this is no 'fits'; supply them "
                      "with the flags named" if result.status == INCOMPLETE else
                      f"status: {result.status} (even with the unknown figures above at their least)")
    else:
        console.print(f"status: {result.status}")

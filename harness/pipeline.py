"""One scenario from plan to files: run it, judge it, write what it found. Used by ``connlab run`` and the demo.

``execute(plan, out=..., backend=..., say=...)`` runs the plan on a real stack
(``harness.run``), judges it (``harness.verdict``), and writes the run folder
``<out>/<scenario>-<timestamp>/``: ``results.json`` (with the plan that ran),
the time series beside it (``harness.series``) and ``report.html``
(``harness.htmlreport``). It returns an ``Outcome``; printing is the
caller's. The run is begun and ended inside ``execute``
(``harness.ground.lifetime``): what runs that died left is swept first, a
reaper ends the stack should this process be killed, and whatever still runs
at the end is ended, whichever way ``execute`` leaves; a library caller gets
the same as ``connlab run``. Its lines (a dead run swept, leftover groups
ended) go to ``notice``.

A verdict is never lost to a file: when the series, results.json or the report
cannot be written (a full disk, a folder made read-only mid-run), the verdict is
still returned, with each file not written in ``Outcome.problems``
(``Outcome.not_written()``: one line). Before any of that, ``preflight(plan,
out)`` refuses, in one line each, a plan too big for the machine and an
``--out`` that cannot be written: callers run it before anything starts.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import ConnlabError, PlanError
from harness.ground.lifetime import run_lifetime
from harness.htmlreport import write_report
from harness.live import View
from harness.observation import Observation
from harness.plan import Plan
from harness.report import results, write_results
from harness.run import run
from harness.scenario_file import read_scenario
from harness.series import write_series
from harness.validate import inside, shown_path
from harness.verdict import Verdict, judge

__all__ = ["MAX_APP_PROCESSES", "Outcome", "app_processes", "check_out", "check_size", "execute", "plan_document",
           "preflight", "run_folder"]

#: the most app processes a run starts at once (web dynos x processes at the largest topology, worker processes
#: and their forked children, one-offs at their peak): a conservative guard until connlab measures the machine
#: (2 cores run 100 twin processes; each Rails process is ~70 MB)
MAX_APP_PROCESSES = 200
#: what ``preflight`` writes into ``--out`` to know it can: a run writes its logs and series there
PROBE_BYTES = 64 * 1024


@dataclass(frozen=True, kw_only=True)
class Outcome:
    observation: Observation
    verdict: Verdict
    document: dict[str, Any]
    run_dir: Path
    #: None when results.json could not be written (``problems`` says why)
    results_path: Path | None
    #: each file of the run that could not be written, and why: ``report.html (No space left on device)``
    problems: tuple[str, ...] = ()

    def not_written(self) -> str | None:
        """One line naming the files not written, or None when all were."""
        if not self.problems:
            return None
        return f"{shown_path(self.run_dir)}: not written: {'; '.join(self.problems)}; the verdict above is the run's"


def app_processes(plan: Plan) -> int:
    """The most app processes the plan runs at once: web dynos x processes at its largest (a preboot deploy runs
    two sets), worker processes (with a child per running job when forking), one-offs at their peak (each
    extra's bursts that overlap)."""
    dynos = most = plan.web.dynos
    for event in plan.events:
        if event.action == "scale":
            dynos = event.dynos
            most = max(most, dynos)
        elif event.action == "deploy":
            most = max(most, 2 * dynos)
    total = most * plan.web.processes
    if plan.worker is not None:
        per_process = 1 + (plan.worker.concurrency if plan.worker.kind == "forking" else 0)
        total += plan.worker.processes * per_process
    for extra in plan.extras:
        starts = extra.start_times(plan.traffic.duration_s) or (extra.at_s,)
        total += extra.count * max(sum(1 for s in starts if s <= t < s + extra.hold_s) for t in starts)
    return total


def check_size(plan: Plan) -> None:
    """``PlanError``, one line, when the plan starts more than ``MAX_APP_PROCESSES`` processes."""
    count = app_processes(plan)
    if count > MAX_APP_PROCESSES:
        raise PlanError([f"{shown_path(plan.path)}: the plan runs {count:,} app processes at its largest; a run "
                         f"starts at most {MAX_APP_PROCESSES} on this machine: fewer dynos, processes or "
                         "one-offs (connlab predict gives the arithmetic at any size)"])


def check_out(out: Path) -> None:
    """``PlanError``, one line, when ``out`` cannot be created or written (a file there, no permission, a full
    disk): found before any server starts, not after the traffic has run."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".connlab-probe-", dir=out)
        try:
            with os.fdopen(handle, "wb") as probe:
                probe.write(b"\0" * PROBE_BYTES)
                probe.flush()
                os.fsync(probe.fileno())
        finally:
            os.unlink(name)
    except OSError as exc:
        raise PlanError([f"--out {shown_path(out)}: cannot write run folders there ({exc.strerror or exc}); "
                         "give a folder you can write with --out DIR"]) from None


def preflight(plan: Plan, out: Path) -> None:
    """Everything that would fail a run after its servers started, checked before: the size, then ``--out``."""
    check_size(plan)
    check_out(out)


def plan_document(plan: Plan) -> dict[str, Any]:
    """The scenario as its file says, with the app it ran on (``--app`` may have changed it); read with the same
    bounded reader as the plan (a file changed since into something hostile gives just the app)."""
    try:
        raw = read_scenario(plan.path)
    except PlanError:
        raw = None
    document = dict(raw) if isinstance(raw, dict) else {}
    document["app"] = plan.app
    return document


def run_folder(out: Path, plan: Plan) -> Path:
    """A new folder for one run (absolute: Locust and the apps run in other working directories), checked to be
    inside ``out`` (the plan's name is an identifier; ``inside`` holds even if one was not)."""
    return inside(out, f"{plan.name}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}")


def _why(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _write_files(observation: Observation, document: dict[str, Any], run_dir: Path) -> tuple[Path | None, list[str]]:
    """The series, results.json and report.html, each written if it can be: (results.json's path or None, each
    file not written with why)."""
    problems = []
    try:
        document["series"] = write_series(observation, run_dir)
    except OSError as exc:
        document.pop("series", None)
        problems.append(f"the time series ({_why(exc)})")
    if problems:
        document["not_written"] = list(problems)
    path: Path | None = None
    try:
        path = write_results(document, run_dir)
    except OSError as exc:
        with contextlib.suppress(OSError):  # a truncated results.json would read as a broken run
            (run_dir / "results.json").unlink()
        problems.append(f"results.json ({_why(exc)})")
    if path is None:
        problems.append("report.html (no results.json to build it from)")
        return None, problems
    try:
        write_report(run_dir)
    except (OSError, ConnlabError) as exc:
        problems.append(f"report.html ({_why(exc)})")
    return path, problems


def execute(plan: Plan, *, out: Path, backend: str = "local", say: Callable[[str], None] = lambda _: None,
            view: View | None = None, web: bool = False, notice: Callable[[str], None] | None = None) -> Outcome:
    """Run ``plan`` on ``backend``, judge it and write its run folder under ``out``. Unless the caller holds a run's
    lifetime already (the demo does), the run is begun here (dead runs swept, this run recorded, its reaper
    started) and ended here however this leaves (what still runs ended, then the record and the reaper).
    ``notice`` gets the lifetime's lines (default: ``say``)."""
    preflight(plan, out)
    with run_lifetime(notice or say):
        began = time.monotonic()
        run_dir = run_folder(out, plan)
        observation = run(plan, run_dir, backend=backend, say=say, view=view, web=web)
        judged = time.monotonic()
        verdict = judge(observation)
        document = results(observation, verdict, time_to_verdict_s=round(time.monotonic() - began, 3))
        document["phases_s"]["verdict"] = round(time.monotonic() - judged, 3)
        document["plan"] = plan_document(plan)
        path, problems = _write_files(observation, document, run_dir)
    return Outcome(observation=observation, verdict=verdict, document=document, run_dir=run_dir,
                   results_path=path, problems=tuple(problems))

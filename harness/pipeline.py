"""One scenario from plan to files: run it, judge it, write what it found. Used by ``connlab run`` and the demo.

``execute(plan, out=..., backend=..., say=...)`` runs the plan on a real stack
(``harness.run``), judges it (``harness.verdict``), and writes the run folder
``<out>/<scenario>-<timestamp>/``: ``results.json`` (with the plan that ran),
the time series beside it (``harness.series``) and ``report.html``
(``harness.htmlreport``). It returns an ``Outcome``; printing is the
caller's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from harness.htmlreport import write_report
from harness.live import View
from harness.observation import Observation
from harness.plan import Plan
from harness.report import results, write_results
from harness.run import run
from harness.series import write_series
from harness.verdict import Verdict, judge


@dataclass(frozen=True, kw_only=True)
class Outcome:
    observation: Observation
    verdict: Verdict
    document: dict[str, Any]
    run_dir: Path
    results_path: Path


def plan_document(plan: Plan) -> dict[str, Any]:
    """The scenario as its file says, with the app it ran on (``--app`` may have changed it)."""
    try:
        raw = yaml.safe_load(plan.path.read_text())
    except (OSError, yaml.YAMLError):
        raw = None
    document = dict(raw) if isinstance(raw, dict) else {}
    document["app"] = plan.app
    return document


def run_folder(out: Path, plan: Plan) -> Path:
    """A new folder for one run (absolute: Locust and the apps run in other working directories)."""
    return out.resolve() / f"{plan.name}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"


def execute(plan: Plan, *, out: Path, backend: str = "local", say: Callable[[str], None] = lambda _: None,
            view: View | None = None, web: bool = False) -> Outcome:
    began = time.monotonic()
    run_dir = run_folder(out, plan)
    observation = run(plan, run_dir, backend=backend, say=say, view=view, web=web)
    verdict = judge(observation)
    document = results(observation, verdict, time_to_verdict_s=round(time.monotonic() - began, 3))
    document["plan"] = plan_document(plan)
    document["series"] = write_series(observation, run_dir)
    path = write_results(document, run_dir)
    write_report(run_dir)
    return Outcome(observation=observation, verdict=verdict, document=document, run_dir=run_dir, results_path=path)

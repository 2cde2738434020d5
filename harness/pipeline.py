"""One scenario from plan to files: run it, judge it, write what it found. Used by ``connlab run`` and the demo.

``execute(plan, out=..., backend=..., say=...)`` runs the plan on a real stack
(``harness.run``), judges it (``harness.verdict``), and writes the run folder
``<out>/<scenario>-<timestamp>/``: ``results.json`` (and, as they are built,
the time series and ``report.html``). It returns an ``Outcome``; printing is the
caller's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.plan import Plan
from harness.report import results, write_results
from harness.run import Observation, run
from harness.verdict import Verdict, judge


@dataclass(frozen=True, kw_only=True)
class Outcome:
    observation: Observation
    verdict: Verdict
    document: dict[str, Any]
    run_dir: Path
    results_path: Path


def run_folder(out: Path, plan: Plan) -> Path:
    """A new folder for one run (absolute: Locust and the apps run in other working directories)."""
    return out.resolve() / f"{plan.name}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"


def execute(plan: Plan, *, out: Path, backend: str = "local",
            say: Callable[[str], None] = lambda _: None) -> Outcome:
    began = time.monotonic()
    run_dir = run_folder(out, plan)
    observation = run(plan, run_dir, backend=backend, say=say)
    verdict = judge(observation)
    document = results(observation, verdict, time_to_verdict_s=round(time.monotonic() - began, 3))
    path = write_results(document, run_dir)
    return Outcome(observation=observation, verdict=verdict, document=document, run_dir=run_dir, results_path=path)

"""Where connlab's own files live: the sample apps, the Locust user code and the shipped scenarios.

All three are package data (``harness/apps``, ``harness/load/locustfile.py``,
``harness/scenarios``), so an installed connlab (``pip install .``) finds them
as a checkout does, from any working directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
APPS_DIR = PACKAGE_DIR / "apps"
SCENARIOS_DIR = PACKAGE_DIR / "scenarios"
LOCUSTFILE = PACKAGE_DIR / "load" / "locustfile.py"


def shipped_scenarios() -> list[str]:
    """The names of the scenarios connlab ships, sorted."""
    return sorted(path.stem for path in SCENARIOS_DIR.glob("*.yaml"))


def scenario_path(name_or_path: str) -> Path:
    """A scenario file: a path as given when it exists or looks like a path, else a shipped scenario's name.

    ``over-limit`` and ``over-limit.yaml`` both name the shipped one; a name that
    is neither a file nor shipped comes back as given, for the plan reader to
    report as missing.
    """
    given = Path(name_or_path)
    if given.exists() or "/" in name_or_path:
        return given
    shipped = SCENARIOS_DIR / f"{given.name.removesuffix('.yaml').removesuffix('.yml')}.yaml"
    return shipped if shipped.exists() else given

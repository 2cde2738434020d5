"""Where connlab's own files live: the sample apps, the Locust user code and the shipped scenarios.

In a checkout the sample apps and their Dockerfiles are the top-level ``stacks/`` and the shipped scenarios the
top-level ``scenarios/``, beside ``harness/``. ``pip install .`` carries both as package data, inside the
package (``harness/stacks/``, ``harness/scenarios/`` in site-packages: pyproject.toml maps the data-only
packages ``harness.stacks`` and ``harness.scenarios`` onto the top-level folders), with the Locust user code
(``harness/load/locustfile.py``), so an installed connlab finds them as a checkout does, from any working
directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
LOCUSTFILE = PACKAGE_DIR / "load" / "locustfile.py"


def _checkout_root(package_dir: Path) -> Path | None:
    """The checkout ``package_dir`` stands in (its pyproject.toml beside the top-level stacks/), else None."""
    root = package_dir.parent
    if (root / "pyproject.toml").is_file() and (root / "stacks" / "CONTRACT.md").is_file():
        return root
    return None


def _data_dir(package_dir: Path, name: str) -> Path:
    """``stacks`` or ``scenarios``: the checkout's top-level folder, else the installed package's."""
    root = _checkout_root(package_dir)
    return (root if root is not None else package_dir) / name


#: The sample apps (``<app>/``), their Dockerfiles (``images/<name>/``) and CONTRACT.md.
STACKS_DIR = _data_dir(PACKAGE_DIR, "stacks")
APPS_DIR = STACKS_DIR
SCENARIOS_DIR = _data_dir(PACKAGE_DIR, "scenarios")


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

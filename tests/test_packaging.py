"""What ``pip install .`` ships: pyproject.toml lists every package of harness/, and the top-level data folders.

The shipped scenarios (``scenarios/``) and the sample apps (``stacks/``) stand beside ``harness/`` in a checkout
and install inside it, as the data-only packages ``harness.scenarios`` and ``harness.stacks`` (pyproject.toml's
``package-dir``). A find cannot map a folder outside harness/ into it, so the packages are listed: a new
subpackage of harness/ left out of the list would be missing from an installed connlab, which this test catches
without building anything (tests/test_install.py installs for real).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from harness import assets

ROOT = Path(__file__).resolve().parents[1]
DATA_PACKAGES = {"harness.scenarios": "scenarios", "harness.stacks": "stacks"}


def _setuptools() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    table: dict[str, Any] = config["tool"]["setuptools"]
    return table


def test_every_package_of_harness_is_listed_and_the_data_folders_are_mapped() -> None:
    table = _setuptools()
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in ROOT.glob("harness/**/__init__.py")}
    assert set(table["packages"]) == found | set(DATA_PACKAGES)
    assert table["package-dir"] == {"harness": "harness", **DATA_PACKAGES}
    for package, folder in DATA_PACKAGES.items():
        assert (ROOT / folder).is_dir(), folder
        assert table["package-data"][package], package


def test_in_a_checkout_the_assets_are_the_top_level_folders() -> None:
    assert assets.APPS_DIR == assets.STACKS_DIR == ROOT / "stacks"
    assert assets.SCENARIOS_DIR == ROOT / "scenarios"
    assert (assets.APPS_DIR / "CONTRACT.md").is_file()
    assert (assets.APPS_DIR / "images" / "rails" / "Dockerfile").is_file()
    assert "over-limit" in assets.shipped_scenarios()
    assert not (ROOT / "harness" / "apps").exists() and not (ROOT / "harness" / "scenarios").exists()


def test_installed_the_assets_are_inside_the_package(tmp_path: Path) -> None:
    """Laid out as site-packages holds it (no pyproject.toml beside the package), the folders are the package's."""
    package = tmp_path / "site-packages" / "harness"
    (package / "stacks").mkdir(parents=True)
    assert assets._data_dir(package, "stacks") == package / "stacks"
    assert assets._data_dir(package, "scenarios") == package / "scenarios"
    assert assets._data_dir(ROOT / "harness", "stacks") == ROOT / "stacks"

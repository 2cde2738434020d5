"""The edges, where users decide, on both apps: expected == capacity fits and refuses nothing; one more
connection refuses and the peak pins at exactly capacity. The harness's own connection must not show."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.helpers import ROOT, processes_under
from tests.helpers_e2e import MISSING, only_results, resource, run_cli, validate

#: starts real servers, apps, Locust or the Docker engine (pytest -m "not e2e" leaves it out)
pytestmark = pytest.mark.e2e

APPS = ["python", pytest.param("rails", marks=pytest.mark.skipif(MISSING is not None,
                                                                 reason=f"Ruby/Rails not installed ({MISSING})"))]


def run_edge(name: str, app: str, tmp_path: Path) -> dict[str, object]:
    marker = uuid.uuid4().hex
    result = run_cli(ROOT / "scenarios" / f"{name}.yaml", tmp_path, marker, "--app", app)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    document = only_results(tmp_path)
    validate(document)
    assert processes_under(marker) == []
    return document


@pytest.mark.parametrize("app", APPS)
def test_expected_equal_to_capacity_fits_exactly(app: str, tmp_path: Path) -> None:
    pg = resource(run_edge("edge-fits", app, tmp_path), "postgres")
    assert pg["capacity"] == 12 and pg["predicted"]["expected"] == 12  # type: ignore[index]
    assert pg["observed"]["peak"] == 12 and pg["observed"]["rejected"] == 0  # type: ignore[index]
    assert pg["exhaustion"] == {"predicted": "fits", "observed": False}


@pytest.mark.parametrize("app", APPS)
def test_one_over_capacity_refuses_and_peaks_at_capacity(app: str, tmp_path: Path) -> None:
    document = run_edge("edge-over", app, tmp_path)
    pg = resource(document, "postgres")
    assert pg["capacity"] == 11 and pg["predicted"]["expected"] == 12  # type: ignore[index]
    assert pg["observed"]["peak"] == 11 and pg["observed"]["rejected"] > 0  # type: ignore[index,operator]
    assert pg["exhaustion"] == {"predicted": "exhausts", "observed": True}
    kinds = {e["kind"] for e in document["errors"]}  # type: ignore[union-attr]
    assert kinds == {"server_full"}

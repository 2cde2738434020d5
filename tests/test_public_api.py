"""The public API a library user calls, pinned: a name added to or dropped from ``__all__`` is a decision, made
here on purpose (httpx's way), and every name listed exists."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "harness.pipeline": ["MAX_APP_PROCESSES", "Outcome", "app_processes", "check_out", "check_size", "execute",
                         "plan_document", "preflight", "run_folder"],
    "harness.plan": ["APPS", "DjangoPool", "Event", "Expectations", "Extra", "Limits", "Orm", "Plan",
                     "ResourceExpectation", "Stage", "Traffic", "WebTier", "WorkerTier", "load_plan",
                     "parse_plan"],
    "harness.predict": ["AT_RISK", "EXHAUSTS", "FITS", "Forecast", "GroupPrediction", "Prediction",
                        "ResourcePrediction", "TopologyChange", "forecast", "predict"],
    "harness.prediction": ["AT_RISK", "EXHAUSTS", "FITS", "GroupPrediction", "Prediction", "ResourcePrediction"],
    "harness.check.command": ["CheckResult", "check", "detect", "document", "read_app", "show"],
    "harness.check.options": ["Autoscale", "CheckOptions", "env_file", "gather"],
    "harness.kinds": ["Demand"],
    "harness.privilege": ["SERVICE_USER", "Account", "copy_in_a_child", "drop_to", "reachable", "runs_as",
                          "service_account"],
    "harness.signals": ["install", "shielded"],
    "harness.stack.credentials": ["new_password", "private_file", "server_folder", "url_safe"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_is_pinned_and_every_name_exists(module: str) -> None:
    loaded = importlib.import_module(module)
    assert list(loaded.__all__) == PUBLIC[module]
    missing = [name for name in loaded.__all__ if not hasattr(loaded, name)]
    assert missing == []

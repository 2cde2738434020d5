"""Fork safety end to end: a connection shared across fork fails for real; made after fork it does not.

The SSL variants run on Debian's postgresql (the embedded wheel has no OpenSSL)
and are skipped, saying so, where it is missing; .ci/run installs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers_e2e import lost, rails, resource, run_scenario, ssl

#: starts real servers, apps, Locust or the Docker engine (pytest -m "not e2e" leaves it out)
pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("name", [pytest.param("fork-unsafe", marks=ssl),
                                  pytest.param("rails-fork-unsafe", marks=[ssl, rails]),
                                  "fork-unsafe-nossl",
                                  pytest.param("rails-fork-unsafe-nossl", marks=rails)])
def test_a_connection_shared_across_fork_breaks(name: str, tmp_path: Path) -> None:
    document = run_scenario(name, tmp_path)
    errors = lost(document)
    assert errors and sum(int(e["count"]) for e in errors) >= 1  # type: ignore[call-overload]
    text = " ".join(str(e["example"]) for e in errors).lower()
    if "nossl" not in name:
        assert any(marker in text for marker in ("ssl", "bad record mac", "eof", "server closed")), text


@pytest.mark.parametrize("name", [pytest.param("fork-safe", marks=ssl),
                                  pytest.param("rails-fork-safe", marks=[ssl, rails])])
def test_connections_made_after_fork_do_not(name: str, tmp_path: Path) -> None:
    document = run_scenario(name, tmp_path)
    assert document["errors"] == []
    pg = resource(document, "postgres")
    assert pg["observed"]["peak"] == 6  # type: ignore[index]


@ssl
def test_a_forking_worker_sharing_its_parents_connection_fails_its_jobs(tmp_path: Path) -> None:
    unsafe = run_scenario("forking-worker-unsafe", tmp_path / "unsafe")
    assert sum(int(e["count"]) for e in lost(unsafe, "worker")) > 0  # type: ignore[call-overload]
    assert lost(unsafe, "web") == []  # users never see it
    safe = run_scenario("forking-worker-safe", tmp_path / "safe")
    assert safe["errors"] == []
    worker = next(g for g in resource(safe, "postgres")["groups"] if g["group"] == "worker.1")  # type: ignore[attr-defined]
    assert 1 <= worker["observed_peak"] <= 3


def test_one_thread_per_process_opens_one_connection_whatever_the_pool(tmp_path: Path) -> None:
    document = run_scenario("single-thread-pool", tmp_path)
    pg = resource(document, "postgres")
    assert pg["exhaustion"] == {"predicted": "at-risk", "observed": False}
    assert pg["predicted"]["worst_case"] == 45 and pg["observed"]["peak"] == 9  # type: ignore[index]

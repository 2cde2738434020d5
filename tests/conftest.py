"""Fixtures shared by the test files: a Docker engine, or a skip saying why there is none."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import MissingDependency
from harness.stack.engine import docker_client
from harness.stack.images import ensure_app_image, ensure_image


@pytest.fixture(scope="session")
def client() -> Any:
    """A Docker engine that answered a ping; the test is skipped, saying how to get one, where none does."""
    try:
        return docker_client()
    except MissingDependency as exc:
        pytest.skip(f"no Docker engine: {exc}")


@pytest.fixture(scope="session")
def images(client: Any) -> None:
    """Every image the docker backend runs, built once per run of the suite (and not again while cached)."""
    say = print
    for name in ("postgres", "valkey"):
        ensure_image(client, name, say)
    for app in ("rails", "python"):
        ensure_app_image(client, app, say)

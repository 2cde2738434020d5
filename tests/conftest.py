"""Fixtures shared by the test files: a Docker engine, or a skip saying why there is none."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import MissingDependency
from harness.stack.engine import docker_client


@pytest.fixture(scope="module")
def client() -> Any:
    """A Docker engine that answered a ping; the test is skipped, saying how to get one, where none does."""
    try:
        return docker_client()
    except MissingDependency as exc:
        pytest.skip(f"no Docker engine: {exc}")

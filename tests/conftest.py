"""Fixtures shared by the test files: a Docker engine, or a skip saying why there is none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.errors import MissingDependency, StackError
from harness.stack.engine import RunEngine
from harness.stack.images import ensure_app_image, ensure_image


@pytest.fixture(scope="session")
def client() -> Iterator[Any]:
    """A Docker engine that answered a ping: the running one, or (root on Debian) a dockerd started for the
    session as ``connlab run`` starts one, and stopped after it. Skipped, saying how to get one, where none can be."""
    engine = RunEngine(say=print)
    try:
        found = engine.start()
    except (MissingDependency, StackError) as exc:
        pytest.skip(f"no Docker engine: {exc}")
    try:
        yield found
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def images(client: Any) -> None:
    """Every image the docker backend runs, built once per run of the suite (and not again while cached)."""
    say = print
    for name in ("postgres", "valkey"):
        ensure_image(client, name, say)
    for app in ("rails", "python"):
        ensure_app_image(client, app, say)

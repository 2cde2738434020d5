"""Fixtures shared by the test files: a Docker engine, or a skip saying why there is none; and the groups the
suite's two workers (``pytest -n 2 --dist loadgroup``, pytest-xdist) take the tests in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.errors import MissingDependency, StackError
from harness.stack.engine import RunEngine
from harness.stack.images import ensure_app_image, ensure_image

#: The files that use the Docker engine: one worker runs them all, in order, so there is one dockerd (the
#: ``client`` fixture starts one per worker session when none answers) and test_compose sees the engine alone.
DOCKER_FILES = frozenset({"test_compose.py", "test_containers.py", "test_docker_stack.py", "test_images.py",
                          "test_rails72_image.py", "test_fuzz_plans.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each file's tests on one worker (its module fixtures run once), the Docker files all on the same one."""
    for item in items:
        name = item.path.name
        item.add_marker(pytest.mark.xdist_group("docker" if name in DOCKER_FILES else name))


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

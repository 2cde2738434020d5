"""The backends by name, and the one place a backend is chosen: ``make_stack``.

``local``: ``LocalStack``, processes on 127.0.0.1 (``harness.stack.local``); ``docker``: ``DockerStack``,
containers (``harness.stack.docker_stack``). Both implement ``harness.stack.base.Stack``; this module imports
them, and neither imports it (no circle: tests/test_layers.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.plan import Plan
from harness.stack.base import Stack
from harness.stack.docker_stack import DockerStack
from harness.stack.local import LocalStack

__all__ = ["BACKENDS", "make_stack"]

BACKENDS = ("local", "docker")


def make_stack(plan: Plan, run_dir: Path, *, backend: str = "local", say: Callable[[str], None] = print) -> Stack:
    """The stack for ``plan`` on ``backend``: the one place a backend is chosen."""
    if backend == "local":
        return LocalStack(plan, run_dir)
    if backend == "docker":
        return DockerStack(plan, run_dir, say=say)
    raise ValueError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")

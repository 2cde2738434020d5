"""The backends by name, and the one place a backend is chosen: ``make_stack``.

``local``: app parts as processes on 127.0.0.1 (``harness.stack.local``); ``docker``: as containers
(``harness.stack.docker_stack``). Each is a ``Launcher`` under the one ``Stack`` (``harness.stack.stack``); a
new backend is one launcher module and one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from harness.plan import Plan
from harness.resources.base import Resource
from harness.stack.docker_stack import DockerLauncher
from harness.stack.launcher import Launcher
from harness.stack.local import LocalLauncher
from harness.stack.stack import Stack

__all__ = ["BACKENDS", "make_stack"]

LAUNCHERS: dict[str, Callable[..., Launcher]] = {"local": LocalLauncher, "docker": DockerLauncher}
BACKENDS = tuple(LAUNCHERS)


def make_stack(plan: Plan, run_dir: Path, *, resources: Mapping[str, Resource], backend: str = "local",
               say: Callable[[str], None] = print) -> Stack:
    """The stack for ``plan`` on ``backend``, with the servers of ``resources`` (``harness.resources.registry``):
    the one place a backend is chosen."""
    if backend not in LAUNCHERS:
        raise ValueError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")
    return Stack(plan, run_dir, launcher=LAUNCHERS[backend](plan, run_dir, say=say), resources=resources)

"""The local launcher: every app part a process on 127.0.0.1, in a process group of its own.

A part runs its app's ``bin/<command>`` (``harness.stack.apps``) with this process's environment less any
``CONNLAB_*`` of its own, plus the part's settings; its output goes to its log in the run folder, where a
``LogLine`` readiness looks. The servers are the resources' local servers (``Place(backend="local")``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.ground.process import Service
from harness.plan import Plan
from harness.resources.base import Place
from harness.stack.apps import AppPart, app_dir, local_env
from harness.stack.launcher import Handle
from harness.stack.readiness import readiness
from harness.validate import inside

__all__ = ["LocalLauncher"]


@dataclass(kw_only=True)
class LocalPart:
    name: str
    service: Service


def _part(handle: Handle) -> LocalPart:
    assert isinstance(handle, LocalPart), handle
    return handle


class LocalLauncher:
    """``harness.stack.launcher.Launcher`` as local processes."""

    backend = "local"

    def __init__(self, plan: Plan, run_dir: Path, *, say: Callable[[str], None] = lambda _: None) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.say = say
        self.startup_s: dict[str, float] = {}

    def open(self) -> Place:
        return Place(backend=self.backend, run_dir=self.run_dir, say=self.say)

    def create(self, part: AppPart) -> LocalPart:
        folder = app_dir(self.plan)
        log = inside(self.run_dir, part.log_name)
        ready = None if part.ready is None else readiness(part.ready, output=lambda: log.read_text(errors="replace"))
        return LocalPart(name=part.name, service=Service(
            name=part.name, argv=[str(folder / "bin" / part.command)], env=local_env(part.settings), cwd=folder,
            log_path=log, readiness=ready))

    def start(self, handle: Handle) -> None:
        _part(handle).service.start()

    def stop(self, handle: Handle) -> None:
        _part(handle).service.stop()

    def check(self, handle: Handle) -> None:
        _part(handle).service.check_alive()

    def serving(self, handle: Handle) -> bool:
        service = _part(handle).service
        return service.alive() and not service.stopping

    def close(self) -> None:
        """Nothing beyond the parts: each process group ended with its part."""

"""The docker launcher: every app part a container of the app image (Rails 7.2 or the Python twin).

The servers are the resources' containers (``Place(backend="docker")``: the engine's client and the run's
label), published on 127.0.0.1. Every app part runs the app image's ``bin/<command>`` with the host's network
(``--network host``), so a web dyno binds 127.0.0.1 as it does locally and reaches the servers' published
ports; its output goes into its log in the run folder when it stops. Every container carries the run's label;
``close`` removes whatever carries it, on a normal end, Ctrl-C, SIGTERM or a crash, and stops a dockerd this
run started.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ComponentDied, PlanError
from harness.ground import registry
from harness.plan import Plan
from harness.resources.base import Place
from harness.stack.apps import AppPart
from harness.stack.containers import RUN_LABEL, last_lines, remove_labelled, wait_ready
from harness.stack.engine import RunEngine
from harness.stack.images import ensure_app_image
from harness.stack.launcher import Handle
from harness.stack.readiness import readiness
from harness.validate import inside

__all__ = ["APPS_WITH_IMAGES", "DockerLauncher"]

APPS_WITH_IMAGES = ("rails", "python")
STOP_TIMEOUT_S = 3


@dataclass(kw_only=True)
class DockerPart:
    """One app container: its name (the group), what it runs, and the container once started."""

    name: str
    part: AppPart
    container: Any = None


def _part(handle: Handle) -> DockerPart:
    assert isinstance(handle, DockerPart), handle
    return handle


class DockerLauncher:
    """``harness.stack.launcher.Launcher`` as containers."""

    backend = "docker"

    def __init__(self, plan: Plan, run_dir: Path, *, say: Callable[[str], None] = lambda _: None) -> None:
        if plan.app not in APPS_WITH_IMAGES:
            raise PlanError([f"{plan.path}: app: the docker backend runs {', '.join(APPS_WITH_IMAGES)} so far, "
                             f"got {plan.app!r}; use --backend local for it"])
        self.plan = plan
        self.run_dir = run_dir
        self.say = say
        self.engine = RunEngine(say=say)
        self.client: Any = None
        self.run_id = uuid.uuid4().hex
        self.image = ""
        self.startup_s: dict[str, float] = {}
        self._closed = False

    def open(self) -> Place:
        self.client = self.engine.start()
        registry.note_label(self.run_id)  # a killed harness's containers go with its reaper or the next run
        began = time.monotonic()
        self.image = ensure_app_image(self.client, self.plan.app, self.say).tag
        self.startup_s["images"] = round(time.monotonic() - began, 3)
        return Place(backend=self.backend, run_dir=self.run_dir, say=self.say, engine=self.client,
                     run_id=self.run_id)

    def create(self, part: AppPart) -> DockerPart:
        return DockerPart(name=part.name, part=part)

    def start(self, handle: Handle) -> None:
        app = _part(handle)
        # the image's own interpreter, not the harness's (CONNLAB_PYTHON names the host's venv)
        settings = {**app.part.settings, "CONNLAB_PYTHON": "python3"}
        app.container = self.client.containers.run(
            self.image, [f"bin/{app.part.command}"], environment=settings, network_mode="host", working_dir="/app",
            labels={RUN_LABEL: self.run_id}, name=f"connlab-{self.run_id[:12]}-{app.name.replace('#', '-')}",
            detach=True)
        if app.part.ready is not None:
            container = app.container
            wait_ready(container, name=app.name, readiness=readiness(
                app.part.ready, output=lambda: bytes(container.logs()).decode(errors="replace")))

    def stop(self, handle: Handle) -> None:
        app = _part(handle)
        if app.container is None:
            return
        with contextlib.suppress(Exception):
            app.container.stop(timeout=STOP_TIMEOUT_S)
        with contextlib.suppress(Exception):
            inside(self.run_dir, app.part.log_name).write_bytes(bytes(app.container.logs()))
        with contextlib.suppress(Exception):
            app.container.remove(force=True)

    def check(self, handle: Handle) -> None:
        app = _part(handle)
        if app.container is None:
            return
        app.container.reload()
        if app.container.status == "exited":
            raise ComponentDied(app.name, app.container.attrs["State"]["ExitCode"], last_lines(app.container))

    def serving(self, handle: Handle) -> bool:
        return _part(handle).container is not None

    def close(self) -> None:
        """Remove whatever carries the run's label, then stop a dockerd this run started."""
        if self._closed or self.client is None:
            self._closed = True
            return
        remove_labelled(self.client, self.run_id)
        self.engine.stop()  # only a dockerd this run started
        self._closed = True

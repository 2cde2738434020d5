"""The one thing a backend gives the Stack: a ``Launcher`` that starts, watches and stops named parts.

``open()`` readies the backend (the docker engine and the app image; nothing locally) and returns the ``Place``
its servers are made for; ``create`` makes a handle for an app part without starting it (so a teardown that
comes in the middle of a start still finds it), ``start`` starts it and waits until its readiness strategy
holds (``harness.stack.readiness``), ``stop`` ends it (its output in the run folder), ``check`` raises
``ComponentDied`` when it exited on its own, ``serving`` says whether it can take traffic, and ``close`` removes
whatever the backend made for the run. The dyno and worker bookkeeping is the Stack's, written once
(``harness.stack.stack``); a new backend is one launcher and one line in ``harness.stack.backends``.
"""

from __future__ import annotations

from typing import Protocol

from harness.resources.base import Place
from harness.stack.apps import AppPart

__all__ = ["Handle", "Launcher"]


class Handle(Protocol):
    """A started (or starting) app part, as its launcher knows it."""

    name: str


class Launcher(Protocol):
    backend: str

    def open(self) -> Place:
        """Ready the backend; return where its servers run. Figures of its own go into ``startup_s``."""

    @property
    def startup_s(self) -> dict[str, float]: ...

    def create(self, part: AppPart) -> Handle: ...

    def start(self, handle: Handle) -> None:
        """Start the part and wait until it is ready; on failure stop it and raise."""

    def stop(self, handle: Handle) -> None: ...

    def check(self, handle: Handle) -> None:
        """Raise ``ComponentDied`` when the part exited and nobody asked it to."""

    def serving(self, handle: Handle) -> bool:
        """Whether the part is up and not being stopped."""

    def close(self) -> None:
        """Remove what ``open`` made (a second call does nothing)."""

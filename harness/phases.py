"""The phases of one run, timed: where the seconds between start and verdict go.

``Phases.mark(name)`` closes the phase that ran since the last mark (or since
the clock was made) under ``name``; a name marked twice adds up. ``run``
marks ``preflight``, ``stack_up``, ``load_start`` (Locust started until its
first user), ``traffic``, ``load_stop``, ``teardown`` and ``replay``; the
pipeline adds ``verdict``. results.json carries them as ``phases_s``, so a
regression in any one shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Phases"]


class Phases:
    """Seconds per phase, in the order first marked."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()
        self.seconds: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = self._clock()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._last, 3)
        self._last = now

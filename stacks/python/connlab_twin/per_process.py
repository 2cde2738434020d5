"""Values (pools, brokers) that each OS process builds for itself on first use.

Connection pools must never cross a ``fork()``: a child that reuses its
parent's sockets corrupts both sessions, and a pool built in the gunicorn
master would count against Postgres before any request. ``PerProcess`` builds
its value lazily, remembers the pid that built it, and rebuilds when called
from another pid; ``reset_all()`` (gunicorn's ``post_fork`` hook) drops every
inherited value explicitly as well.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_registry: list[PerProcess[Any]] = []


class PerProcess(Generic[T]):
    """A value built at most once per process, safely from many threads."""

    def __init__(self, build: Callable[[], T], forget: Callable[[T], None] | None = None) -> None:
        """``build`` makes the value; ``forget`` lets go of an inherited one.

        ``forget`` runs in the child on a value built by the parent, so it must
        not close the parent's connections (e.g. ``engine.dispose(close=False)``).
        """
        self._build = build
        self._forget = forget
        self._lock = threading.Lock()
        self._value: T | None = None
        self._pid = 0
        _registry.append(self)

    def get(self) -> T:
        """The value for the calling process, built now if needed."""
        value, pid = self._value, self._pid
        if value is not None and pid == os.getpid():
            return value
        with self._lock:
            if self._value is not None and self._pid != os.getpid():
                self._drop()
            if self._value is None:
                self._value = self._build()
                self._pid = os.getpid()
            return self._value

    def built_here(self) -> T | None:
        """The value if the calling process built it, else None; never builds."""
        value, pid = self._value, self._pid
        return value if value is not None and pid == os.getpid() else None

    def reset(self) -> None:
        """Forget the value (built by this or a parent process)."""
        self._lock = threading.Lock()  # a parent's thread may have held the old one
        self._drop()

    def _drop(self) -> None:
        value, self._value, self._pid = self._value, None, 0
        if value is not None and self._forget is not None:
            self._forget(value)


def reset_all() -> None:
    """Forget every per-process value; call first thing in a forked child."""
    for item in _registry:
        item.reset()

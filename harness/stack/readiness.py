"""When an app process is ready: one named strategy per kind of answer, the same on every backend.

A strategy says what to wait for (``HttpOk``: ``GET url`` answers 200; ``LogLine``: a line in the process's own
output); ``readiness`` turns it into the ground floor's ``Readiness`` (a name, a check, a timeout) given how the
launcher reads that output (a log file locally, the container's logs under docker). Both launchers then wait the
same way: until the check holds, the part exits (``ComponentDied``) or the timeout passes (``StartTimeout``).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from harness.ground.process import Readiness

__all__ = ["HttpOk", "LogLine", "Strategy", "readiness"]


@dataclass(frozen=True, kw_only=True)
class HttpOk:
    url: str
    timeout_s: float

    @property
    def name(self) -> str:
        return f"GET {self.url}"


@dataclass(frozen=True, kw_only=True)
class LogLine:
    text: str
    timeout_s: float

    @property
    def name(self) -> str:
        return f"log line {self.text!r}"


Strategy = HttpOk | LogLine


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - loopback only
            return int(response.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def readiness(strategy: Strategy, *, output: Callable[[], str]) -> Readiness:
    """The check for ``strategy``; ``output()`` is the part's output so far (what a ``LogLine`` looks in)."""
    if isinstance(strategy, HttpOk):
        url = strategy.url
        return Readiness(name=strategy.name, check=lambda: http_ok(url), timeout_s=strategy.timeout_s)
    text = strategy.text

    def logged() -> bool:
        try:
            return text in output()
        except OSError:
            return False

    return Readiness(name=strategy.name, check=logged, timeout_s=strategy.timeout_s)

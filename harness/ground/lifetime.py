"""One run's lifetime: begun once, always ended, whatever way it leaves.

``with run_lifetime(notice):`` begins a run (``registry.begin_run``: sweep what runs that died left, record this
run, start its reaper) and, however the block leaves (a verdict, an error, Ctrl-C, SIGTERM), ends it:
``process.sweep()`` ends every process group still running and then the run's record and reaper. Both ends run
inside ``harness.signals.shielded``: a signal that arrives meanwhile is raised once they are done.

``harness.pipeline.execute`` runs inside one, so a library caller gets the reaper and the sweep that
``connlab run`` gets; the demo holds one around its steps. The first lifetime in begins the run and the last one
out ends it: one inside another (each step's ``execute`` in the demo's) begins and ends nothing, and the end's
sweep never comes while another lifetime of this process is still inside (a process has one run registry record
and one set of process groups).

``notice`` gets the lines a person should see: each dead run swept, a run with no registry or no reaper, and
the process groups the end had to end (``ended leftover process groups: ...``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harness.ground import process, registry
from harness.signals import shielded

__all__ = ["run_lifetime"]

_depth = 0
_lock = threading.Lock()


@contextmanager
def run_lifetime(notice: Callable[[str], None]) -> Iterator[None]:
    """Begin a run unless one is begun already; end it, however the block leaves, unless another is still in."""
    global _depth
    with _lock:
        _depth += 1
        first = _depth == 1
    try:
        if first:
            with shielded():
                lines = registry.begin_run()
            for line in lines:
                notice(line)
        yield
    finally:
        with _lock:
            _depth -= 1
            last = _depth == 0
        if last:
            with shielded():
                left = process.sweep()
            if left:
                notice(f"ended leftover process groups: {', '.join(left)}")

"""The live view: what a run is doing while it runs.

``run`` hands a ``View`` two things: the stack while it starts (``starting``),
then a ``Snapshot`` at every tick of the traffic (``update``). Two views:

* ``PanelView`` (a terminal): a rich live panel. While the stack starts, each
  server and dyno as it comes up with its start-up time; then the elapsed time
  and stage, the connections each resource holds now as a bar against its
  capacity, the refusals and the errors so far, and the next event.
* ``LineView`` (not a terminal: CI, ``--json``): a plain line every
  ``LINE_EVERY_S`` seconds through the run's ``say``.

Nothing lives only here: the same figures are in results.json and the series.
Where a figure is not known while the run goes (a server's refusals where
its log is read only when it stops, as a container's is), it shows as ``-``.
"""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from harness.events import Step
    from harness.plan import Plan
    from harness.resources.base import Collector
    from harness.stack.stack import Stack

LINE_EVERY_S = 2.0
REFRESH_PER_S = 4
BAR_WIDTH = 30


@dataclass(frozen=True, kw_only=True)
class Gauge:
    resource: str
    now: int
    capacity: int
    refused: int | None


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    elapsed_s: float
    duration_s: float
    stage: int
    stages: int
    users: int
    gauges: tuple[Gauge, ...]
    requests: int | None
    failed: int | None
    next_event: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


class View(Protocol):
    def starting(self, stack: Stack) -> None: ...

    def update(self, snapshot: Snapshot) -> None: ...

    def stop(self) -> None: ...


def line(snapshot: Snapshot) -> str:
    """One plain line: ``t=4.0/16 s stage 2/3 (30 users) postgres 21/27 (0 refused) ... next: ...``."""
    parts = [f"t={snapshot.elapsed_s:.1f}/{snapshot.duration_s:g} s", f"stage {snapshot.stage}/{snapshot.stages} "
             f"({snapshot.users} users)"]
    for g in snapshot.gauges:
        refused = "-" if g.refused is None else str(g.refused)
        parts.append(f"{g.resource} {g.now}/{g.capacity} ({refused} refused)")
    if snapshot.requests is not None:
        parts.append(f"requests {snapshot.requests}, {snapshot.failed} failed")
    if snapshot.next_event:
        parts.append(f"next: {snapshot.next_event}")
    return "; ".join(parts)


class LineView:
    """Plain lines through ``say``, one every ``LINE_EVERY_S`` seconds of traffic."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self._next = 0.0

    def starting(self, stack: Stack) -> None:
        """Nothing while starting: the run says "stack up in ..." with every part's time once it is."""

    def update(self, snapshot: Snapshot) -> None:
        if snapshot.elapsed_s >= self._next:
            self.say(line(snapshot))
            self._next = snapshot.elapsed_s + LINE_EVERY_S

    def stop(self) -> None:
        pass


class _Lines(io.TextIOBase):
    """A stream that prints each whole line above the live panel, through the panel's console.

    One console owns the screen while the panel is live: a line written past it (the CLI's stderr Console says
    "stack up in ..." from the stack's threads) moves the cursor the panel's redraw does not know of, and the top
    of the frame before stays on the screen. rich's own redirect cannot catch that: every Console unwraps its
    ``FileProxy`` (``rich_proxied_file``) and writes to the real stream. This one has nothing to unwrap.
    """

    def __init__(self, console: Console, original: TextIO) -> None:
        super().__init__()
        self.console = console
        self.original = original
        self._buffer = ""
        self._lock = threading.Lock()

    def isatty(self) -> bool:
        return self.original.isatty()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._buffer += text
            *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self.console.print(Text.from_ansi(line))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            rest, self._buffer = self._buffer, ""
        if rest:
            self.console.print(Text.from_ansi(rest))


class PanelView:
    """A rich live panel on a terminal: start-up progress, then connections against capacity."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self.stack: Stack | None = None
        self.began = time.monotonic()
        self.snapshot: Snapshot | None = None
        # the panel redirects the streams itself (_Lines): rich's own proxies are unwrapped by every other Console
        self.live = Live(console=console, refresh_per_second=REFRESH_PER_S, transient=False,
                         get_renderable=self._render, redirect_stdout=False, redirect_stderr=False)
        self._streams: tuple[TextIO, TextIO] | None = None

    def starting(self, stack: Stack) -> None:
        self.stack = stack
        self.began = time.monotonic()
        self.live.start()
        if self.console.is_terminal and self._streams is None:
            # the panel's console writes to the real stream it writes to now; every other writer meets _Lines
            self.console.file = self.console.file
            self._streams = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = _Lines(self.console, sys.stdout), _Lines(self.console, sys.stderr)

    def update(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def stop(self) -> None:
        if self._streams is not None:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            sys.stdout, sys.stderr = self._streams
            self._streams = None
        self.live.stop()

    def _render(self) -> Any:
        if self.snapshot is None:
            return self._startup()
        s = self.snapshot
        table = Table.grid(padding=(0, 1))
        for g in s.gauges:
            bar = ProgressBar(total=max(1, g.capacity), completed=min(g.now, g.capacity), width=BAR_WIDTH,
                              complete_style="red" if g.now >= g.capacity else "green")
            refused = "-" if g.refused is None else str(g.refused)
            table.add_row(f"{g.resource:<9}", bar, f"{g.now:>4} / {g.capacity:<4}", f"refused {refused}")
        head = (f"t = {s.elapsed_s:5.1f} s of {s.duration_s:g}   stage {s.stage}/{s.stages}   {s.users} users   "
                + (f"requests {s.requests}, failed {s.failed}" if s.requests is not None else ""))
        lines: list[Any] = [head, table]
        if s.next_event:
            lines.append(f"next: {s.next_event}")
        return Panel(Group(*lines), title=self.title, title_align="left")

    def _startup(self) -> Any:
        ready = dict(self.stack.startup_s) if self.stack is not None else {}
        rows = [f"  {name:<10} up in {seconds:.1f} s" for name, seconds in ready.items()]
        waited = time.monotonic() - self.began
        return Panel("\n".join([f"starting the stack ... {waited:.1f} s", *rows]), title=self.title,
                     title_align="left")


def load_totals(live: Path) -> tuple[int | None, int | None]:
    """Requests and failures so far, from the file the Locust process rewrites twice a second."""
    try:
        data = json.loads(live.read_text())
        return int(data["total"]), int(data["failed"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


class Monitor:
    """Builds the ``Snapshot`` of a running run from its servers' collectors and the load's running totals."""

    def __init__(self, *, plan: Plan, live_file: Path, collectors: Mapping[str, Collector]) -> None:
        self.plan = plan
        self.collectors = collectors
        self.live = live_file
        self.capacity = {name: limits.capacity for name, limits in plan.limits.items()}

    def _stage(self, elapsed_s: float) -> tuple[int, int]:
        end = 0.0
        for index, stage in enumerate(self.plan.traffic.stages, start=1):
            end += stage.duration_s
            if elapsed_s < end:
                return index, stage.users
        return len(self.plan.traffic.stages), self.plan.traffic.stages[-1].users

    def snapshot(self, elapsed_s: float, pending: Sequence[Step]) -> Snapshot:
        stage, users = self._stage(elapsed_s)
        requests, failed = load_totals(self.live)
        upcoming = next((step for step in pending if step.label), None)
        return Snapshot(
            elapsed_s=elapsed_s, duration_s=self.plan.traffic.duration_s, stage=stage,
            stages=len(self.plan.traffic.stages), users=users, requests=requests, failed=failed,
            gauges=tuple(Gauge(resource=name, now=sum(collector.latest.values()), capacity=self.capacity[name],
                               refused=collector.refused_so_far())
                         for name, collector in self.collectors.items()),
            next_event=None if upcoming is None else f"{upcoming.label} at {round(upcoming.at_s, 1):g} s",
        )

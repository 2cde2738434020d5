"""Postgres' exact peaks and refusals, replayed from its own log.

The server runs with ``log_connections``, ``log_disconnections`` and ``log_line_prefix = '%m [%p] '`` in UTC
(``settings.py``). ``replay_postgres_log`` replays the ``connection authorized`` / ``disconnection`` / ``FATAL``
lines in time order and keeps the largest number of app connections open at one instant, in total and per
``application_name``; refusals for a full server are counted from their FATAL lines (``FULL_MESSAGES``, the
refusal markers, which the live view counts too).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from harness.ground.marks import UNNAMED, is_app
from harness.observation import Change, Peaks
from harness.resources.postgres.limits import FULL_MESSAGES

SHUTDOWN_MESSAGES = ("database system is shut down", "all server processes terminated")

_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \S+ \[(\d+)\] (LOG|FATAL):  (.*)$")
_APP_NAME = re.compile(r"application_name=(\S+)")


def replay_postgres_log(path: Path) -> Peaks:
    """Exact peaks from a Postgres log written with ``log_line_prefix = '%m [%p] '`` in UTC.

    A connection opens at ``connection authorized`` and closes at its
    ``disconnection`` or FATAL line, or when the server shuts down. One refused
    for a full server after it was authorized (the reserved-slots check) never
    counted as open.
    """
    events: list[tuple[float, int, int, str] | None] = []  # (time, 1 open / 0 close, pid, group)
    refused_at: list[float] = []
    open_by_pid: dict[int, tuple[str, int]] = {}  # pid -> (group, index of its open event)
    with path.open(errors="replace") as log:
        for line in log:
            match = _LINE.match(line)
            if match is None:
                continue
            stamp, pid_text, level, message = match.groups()
            t = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
            pid = int(pid_text)
            if level == "LOG" and message.startswith("connection authorized:"):
                name_match = _APP_NAME.search(message)
                group = name_match.group(1) if name_match else UNNAMED
                if is_app(group):
                    open_by_pid[pid] = (group, len(events))
                    events.append((t, 1, pid, group))
            elif level == "LOG" and message.startswith(SHUTDOWN_MESSAGES):
                # the server went down: whatever it had not logged as closed is closed now
                events += [(t, 0, gone, group) for gone, (group, _) in open_by_pid.items()]
                open_by_pid.clear()
            elif level == "FATAL" and any(m in message for m in FULL_MESSAGES):
                refused_at.append(t)
                # refused after authorization (the reserved-slots check comes later): never a usable connection
                refused = open_by_pid.pop(pid, None)
                if refused is not None:
                    events[refused[1]] = None
            elif level == "LOG" and message.startswith("disconnection:") or level == "FATAL":
                closed = open_by_pid.pop(pid, None)
                if closed is not None:
                    events.append((t, 0, pid, closed[0]))
    ordered = sorted((e for e in events if e is not None), key=lambda e: (e[0], e[1]))  # closes first at a tie
    now: Counter[str] = Counter()
    peak_by_group: Counter[str] = Counter()
    total = peak = 0
    changes: list[Change] = []
    for t, opening, _pid, group in ordered:
        delta = 1 if opening else -1
        now[group] += delta
        total += delta
        peak_by_group[group] = max(peak_by_group[group], now[group])
        peak = max(peak, total)
        changes.append((t, group, now[group]))
    return Peaks(total=peak, by_group=dict(peak_by_group), rejected=len(refused_at),
                 first_rejected_epoch_s=min(refused_at, default=None), changes=tuple(changes),
                 refused_epoch_s=tuple(sorted(refused_at)))


def count_refusals(text: str) -> int:
    """The refusals for a full server in a piece of the log (the live view reads the log as it grows)."""
    return sum(text.count(message) for message in FULL_MESSAGES)

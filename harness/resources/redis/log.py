"""Exact Redis peaks and refusals, replayed from Valkey's verbose log.

Valkey is started with ``--loglevel verbose --hide-user-data-from-log no
--log-timestamp-format milliseconds --enable-debug-command local``
(``settings.py``). Its event loop is single-threaded, so the log's line
order is the server's order, and it logs:

* ``Accepted 127.0.0.1:PORT`` for every TCP connection it accepts, including
  the ones it then refuses because ``maxclients`` clients are already connected
  (those get "-ERR max number of clients reached" and are closed with no
  further line: a refusal leaves only its ``Accepted`` line);
* a close line carrying the client's ``addr=`` and ``name=``: ``Client closed
  connection``, ``Protocol error (...) from client``, ``Closing client that
  reached max query buffer length``, ``Client ... scheduled to be closed ASAP``
  (output buffer limits), ``Accepted client connection in error state``;
* a close line without the address: ``Reading from client: <error>`` (a reset),
  ``Error writing to client: <error>``, ``Closing idle client`` (timeout);
* nothing for CLIENT KILL nor for QUIT (no client of the sample apps sends it).

So the harness marks its own acts in the log with ``DEBUG LOG`` inside the same
MULTI/EXEC (nothing runs in between): ``connlab-kill addr=... name=...`` just
before each CLIENT KILL (``faults.py``), ``connlab-final`` with its
last CLIENT LIST and INFO before teardown (``final_read``). The kill records
(``RedisKill``: address, name, time) place a kill by its time when its marker is
missing. The kill's marker and record are ``marks.py`` and the harness's connection
names ``harness.ground.marks``: the fault that leaves them imports nothing of this
module's.

``replay_redis_log`` decides each ``Accepted`` the way the server did: a
refusal when the clients already connected (the harness's own included) are
``maxclients`` or more. A connection's group is its client name, from its close
line, its kill or the final CLIENT LIST. The harness's own connections
(``connlab-*``) count toward the server's limit and are never reported; app
connections that never named themselves go to ``(unnamed)``. Whatever the
replay could not account for is listed in ``RedisReplay.problems``, and
``exact_or_why`` says whether the replay agrees with the server (its refusals
with ``rejected_connections``, its open connections with the final CLIENT
LIST): when it does not, the run reports the sampled peak instead.
"""

from __future__ import annotations

import re
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import redis

from harness.ground.marks import UNNAMED, is_app
from harness.observation import Change, Peaks
from harness.resources.redis.marks import KILL_MARK, RedisKill

_LINE = re.compile(r"^\d+:[A-Z] (\d{13}|\d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\.\d{3}) [.\-*#] (.*)$")
_ACCEPTED = re.compile(r"^Accepted (\S+:\d+)$")
_ADDR = re.compile(r"(?:^|[\s(])addr=(\S+?)[\s)]")  # not laddr=
_NAME = re.compile(r"(?:^|\s)name=(\S*)")  # not lib-name=
#: Lines that close the client whose ``addr=`` they carry.
ADDRESSED_CLOSES = ("Client closed connection ", "Protocol error (", "Closing client that reached max query buffer",
                    "Accepted client connection in error state")
ASAP = "scheduled to be closed ASAP"  # "Client <info> scheduled to be closed ASAP for overcoming of output buffer ..."
#: Lines that close one client without saying which.
ANONYMOUS_CLOSES = ("Reading from client: ", "Error writing to client: ", "Closing idle client")
#: Lines after which no client is connected any more.
SERVER_GONE = ("Valkey is now ready to exit", "Redis is now ready to exit", "is starting oO0OoO0OoO0Oo")
FINAL_MARK = "DEBUG LOG: connlab-final"
REDACTED = "*redacted*"
#: A client whose close was logged this many milliseconds before an ``Accepted`` may still count: the server
#: frees closed clients at the end of its event loop's iteration.
ASYNC_FREE_MS = 1


@dataclass(frozen=True, kw_only=True)
class FinalRead:
    """CLIENT LIST (addr -> name) and INFO's ``rejected_connections``, read at once just before teardown."""

    clients: dict[str, str]
    rejected: int
    from_epoch_s: float
    to_epoch_s: float
    marked: bool  # a connlab-final marker in the log says exactly where the read happened


@dataclass(frozen=True, kw_only=True)
class RedisReplay(Peaks):
    """``Peaks`` of the app connections, plus what the replay could not account for."""

    #: refusals before the connlab-final marker; None without one
    rejected_at_final: int | None = None
    problems: tuple[str, ...] = ()


def final_read(admin: redis.Redis) -> FinalRead:
    """Read CLIENT LIST and rejected_connections in one MULTI with a ``connlab-final`` marker in the log."""
    began = time.time()
    try:
        pipe = admin.pipeline(transaction=True)
        pipe.client_list()
        pipe.info("stats")
        pipe.execute_command("DEBUG", "LOG", FINAL_MARK.removeprefix("DEBUG LOG: "))  # type: ignore[no-untyped-call]
        clients, stats, _ = pipe.execute()
        marked = True
    except redis.ResponseError:  # DEBUG not enabled: no marker, the replay places the read by its time
        clients, stats, marked = admin.client_list(), admin.info("stats"), False
    return FinalRead(clients={str(e["addr"]): str(e.get("name") or "") for e in clients},
                     rejected=int(stats.get("rejected_connections", 0)), from_epoch_s=began,
                     to_epoch_s=time.time(), marked=marked)


@dataclass(kw_only=True)
class _Conn:
    addr: str
    opened: tuple[int, int]  # (epoch ms, position in the log): the log's order is the server's
    name: str | None = None
    closed: tuple[int, int] | None = None  # by a line with its address or by a kill, then by pass 2
    final: bool = False  # in the final CLIENT LIST
    silent: bool = False  # no line closed it: the server went, or the log ends, with it connected
    refused: bool = False
    open: bool = False


def _stamp_ms(stamp: str) -> int:
    if stamp.isdigit():
        return int(stamp)
    return round(datetime.strptime(stamp, "%d %b %Y %H:%M:%S.%f").timestamp() * 1000)  # legacy: local time


def _name(text: str | None) -> str | None:
    return None if text is None or text == REDACTED else text


Event = tuple[int, str, str, str | None]


def parse_redis_log(path: Path) -> list[Event]:
    """The log's connection events in order: (epoch ms, kind, addr, name).

    kind: ``accept``; ``close`` (a line with the client's address); ``anon`` (a close without one; addr empty);
    ``kill`` (the harness's marker); ``final`` (the marker of its last CLIENT LIST); ``gone`` (the server exited
    or started again).
    """
    events: list[Event] = []
    with path.open(errors="replace") as log:
        for line in log:
            match = _LINE.match(line.rstrip("\n"))
            if match is None:
                continue
            ms, message = _stamp_ms(match.group(1)), match.group(2)
            accepted = _ACCEPTED.match(message)
            if accepted:
                events.append((ms, "accept", accepted.group(1), None))
            elif (message.startswith(ADDRESSED_CLOSES) or message.startswith(KILL_MARK)
                  or message.startswith("Client ") and ASAP in message):
                addr = _ADDR.search(message + " ")
                name = _NAME.search(message)
                if addr:
                    kind = "kill" if message.startswith(KILL_MARK) else "close"
                    events.append((ms, kind, addr.group(1), _name(name.group(1) if name else None)))
            elif message.startswith(ANONYMOUS_CLOSES):
                events.append((ms, "anon", "", None))
            elif message == FINAL_MARK:
                events.append((ms, "final", "", None))
            elif any(gone in message for gone in SERVER_GONE):
                events.append((ms, "gone", "", None))
    return events


def replay_redis_log(path: Path, *, maxclients: int, final_clients: Mapping[str, str],
                     kills: Sequence[RedisKill]) -> RedisReplay:
    """Exact peaks of the app connections and exact refusals from a verbose Valkey log.

    ``maxclients`` is the server's own setting (the plan's plus the harness's connections), ``final_clients``
    the CLIENT LIST read just before teardown (addr -> name), ``kills`` the harness's CLIENT KILLs.
    """
    events = parse_redis_log(path)
    problems: list[str] = []
    marked = Counter(addr for _, kind, addr, _ in events if kind == "kill")
    names = {k.addr: k.name for k in kills}
    unmarked: list[Event] = []
    for kill in kills:
        if marked[kill.addr]:
            marked[kill.addr] -= 1
        else:  # no marker: placed by the time it was sent, before the lines of that millisecond
            unmarked.append((int(kill.epoch_s * 1000), "kill", kill.addr, kill.name))
    unmarked.sort(key=lambda e: e[0])
    merged: list[Event] = []  # the log's lines in their order, the unmarked kills among them
    for ms, kind, addr, name in events:
        while unmarked and unmarked[0][0] <= ms:
            merged.append(unmarked.pop(0))
        merged.append((ms, kind, addr, names.get(addr, name) if kind == "kill" else name))
    merged += unmarked

    # pass 1: who is who. Each Accepted is a connection; a line with its address or a kill ends it.
    conns: list[_Conn] = []
    about: list[_Conn | None] = []  # the connection each merged event is about
    latest: dict[str, _Conn] = {}

    def mark_final(strict: bool) -> None:
        for addr, name in final_clients.items():
            found = latest.get(addr)
            if found is not None and found.closed is None:
                found.final, found.name = True, found.name or name or None
            elif strict:  # at the marker; without one, at the end, it may have closed after the read
                problems.append(f"{addr} ({name or UNNAMED}) in the final CLIENT LIST is not in the log as connected")

    for seq, (ms, kind, addr, name) in enumerate(merged):
        conn: _Conn | None = None
        if kind == "accept":
            conn = _Conn(addr=addr, opened=(ms, seq))
            conns.append(conn)
            latest[addr] = conn
        elif kind in ("close", "kill"):
            found = latest.get(addr)
            if found is not None and found.closed is None:
                conn, found.closed = found, (ms, seq)
                found.name = found.name if name is None else name
        elif kind == "final":
            mark_final(strict=True)
        about.append(conn)
    has_final = any(kind == "final" for _, kind, _, _ in events)
    if not has_final:
        mark_final(strict=False)

    # pass 2: the server's count of connected clients decides each Accepted
    connected = 0
    recent_closes: deque[int] = deque()  # closes the server may not have freed yet
    refused_ms: list[int] = []
    rejected_at_final: int | None = None
    after_final = not has_final
    ambiguous = 0
    for seq, ((ms, kind, _addr, _name), conn) in enumerate(zip(merged, about, strict=True)):
        if kind == "accept" and conn is not None:
            seen_later = conn.closed is not None or conn.final
            while recent_closes and recent_closes[0] < ms - ASYNC_FREE_MS:
                recent_closes.popleft()
            if connected >= maxclients or (not seen_later and connected + len(recent_closes) >= maxclients):
                if seen_later:
                    problems.append(f"{conn.addr} at {ms / 1000:.3f} was served although the replay counted "
                                    f"{connected} clients connected (maxclients {maxclients})")
                else:
                    conn.refused = True
                    refused_ms.append(ms)
                    continue
            conn.open = True
            connected += 1
        elif kind in ("close", "kill") and conn is not None and conn.open:
            conn.open = False
            connected -= 1
            if kind == "close":  # a kill frees the client at once
                recent_closes.append(ms)
        elif kind == "anon":
            # a close without an address ends a connection with no close of its own, the oldest, one still
            # connected at the final CLIENT LIST last: the count is exact whichever it was, the group only when
            # they all share one
            candidates = sorted((c for c in conns if c.open and c.closed is None and (not c.final or after_final)),
                                key=lambda c: (c.final, c.opened))
            if not candidates:
                problems.append(f"a close at {ms / 1000:.3f} without an address matches no connected client")
                continue
            ambiguous += len({c.name for c in candidates}) > 1
            candidates[0].closed, candidates[0].open = (ms, seq), False
            connected -= 1
            recent_closes.append(ms)
        elif kind == "final":
            after_final = True
            rejected_at_final = len(refused_ms)
            open_now = {c.addr for c in conns if c.open}
            if connected != len(open_now) or open_now != set(final_clients):
                problems.append(f"at the final CLIENT LIST the replay had {connected} clients connected "
                                f"({len(open_now)} known), the server {len(final_clients)}")
        elif kind == "gone":  # what no line closed was open until the server went
            connected = 0
            for c in conns:
                if c.open and c.closed is None:
                    c.closed, c.silent = (ms, seq), True
                c.open = False

    for c in conns:
        if not c.refused and c.closed is None:
            c.closed, c.silent = (merged[-1][0], len(merged)), True
        if c.silent and not c.final:
            problems.append(f"{c.addr} ({c.name or UNNAMED}) closed without a log line (QUIT?), "
                            "counted open until the server stopped")
    if ambiguous:
        problems.append(f"{ambiguous} close(s) without an address could be any of several groups' connections")

    # the app connections' timeline, in the log's order
    changes: list[tuple[tuple[int, int], int, str]] = []
    for c in conns:
        group = c.name or UNNAMED
        if c.refused or not is_app(group):
            continue
        assert c.closed is not None
        changes += [(c.opened, 1, group), (c.closed, -1, group)]
    changes.sort(key=lambda e: (e[0][1], e[1]))  # several closes at one gone line: closes first
    now: Counter[str] = Counter()
    peak_by_group: Counter[str] = Counter()
    total = peak = 0
    series: list[Change] = []
    for (ms, _), delta, group in changes:
        now[group] += delta
        total += delta
        peak_by_group[group] = max(peak_by_group[group], now[group])
        peak = max(peak, total)
        series.append((ms / 1000, group, now[group]))
    return RedisReplay(
        total=peak, by_group=dict(peak_by_group), rejected=len(refused_ms),
        first_rejected_epoch_s=refused_ms[0] / 1000 if refused_ms else None, changes=tuple(series),
        refused_epoch_s=tuple(ms / 1000 for ms in refused_ms), rejected_at_final=rejected_at_final,
        problems=tuple(problems),
    )


def exact_or_why(replay: RedisReplay, final: FinalRead) -> str | None:
    """None when the replay can be reported as exact, else why not.

    The replay's refusals up to the final read must be INFO's ``rejected_connections`` then: exactly, at the
    ``connlab-final`` marker; without one, those logged in the read's own milliseconds may fall either side.
    """
    if replay.problems:
        shown = "; ".join(replay.problems[:3]) + (f" and {len(replay.problems) - 3} more"
                                                   if len(replay.problems) > 3 else "")
        return f"the replay of Valkey's log is incomplete: {shown}"
    if replay.rejected_at_final is not None:
        low = high = replay.rejected_at_final
    else:
        start_ms, end_ms = int(final.from_epoch_s * 1000), int(final.to_epoch_s * 1000)
        low = sum(1 for t in replay.refused_epoch_s if round(t * 1000) < start_ms)
        high = low + sum(1 for t in replay.refused_epoch_s if start_ms <= round(t * 1000) <= end_ms)
    if not low <= final.rejected <= high:
        counted = f"{low}" if low == high else f"{low} to {high}"
        return (f"the replay of Valkey's log counts {counted} refusals where the server counted {final.rejected} "
                "(INFO rejected_connections)")
    return None

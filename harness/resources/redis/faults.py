"""What the events timeline may do to a running Valkey: ``kill_redis_clients``, as operators and outages do.

It takes the server and a group prefix (``web`` matches web.1, web.2 ...; an empty prefix matches every app
connection) and returns how many connections it ended. The harness's own connections (``connlab-*``) are never
touched, and the kill runs over the harness's one admin connection (``admin.py``). The kill's marker and record
are ``marks.py``, which the log replay reads too.
"""

from __future__ import annotations

import time
from typing import Protocol
from weakref import WeakKeyDictionary

import redis

from harness.ground.marks import is_app
from harness.resources.redis.marks import KILL_MARK, RedisKill


class RedisServer(Protocol):
    """A Redis of any backend: what the faults need is its admin connection."""

    admin: redis.Redis


#: Every client ``kill_redis_clients`` ended, per server: Valkey does not log CLIENT KILL, the log replay needs them.
_REDIS_KILLS: WeakKeyDictionary[RedisServer, list[RedisKill]] = WeakKeyDictionary()


def kill_redis_clients(redis_server: RedisServer, group: str) -> int:
    """CLIENT KILL for the clients whose name starts with ``group``; each kill is recorded (``redis_kills``)."""
    killed = 0
    client = redis_server.admin
    record = _REDIS_KILLS.setdefault(redis_server, [])
    for entry in client.client_list():
        name = str(entry.get("name") or "")
        if name.startswith(group) and is_app(name):
            sent = time.time()  # the server frees a killed client before it replies
            if _kill_marked(redis_server, entry["id"], f"{KILL_MARK}addr={entry['addr']} name={name}"):
                killed += 1
                record.append(RedisKill(addr=str(entry["addr"]), name=name, epoch_s=sent))
    return killed


def _kill_marked(redis_server: RedisServer, client_id: str, mark: str) -> bool:
    """CLIENT KILL, with a DEBUG LOG marker just before it in the same MULTI: in the log exactly where it happened."""
    pipe = redis_server.admin.pipeline(transaction=True)
    pipe.execute_command("DEBUG", "LOG", mark.removeprefix("DEBUG LOG: "))  # type: ignore[no-untyped-call]
    pipe.client_kill_filter(_id=client_id)
    try:
        return bool(pipe.execute()[1])
    except redis.ResponseError:  # DEBUG not enabled: unmarked, the replay places the kill by its time
        return bool(redis_server.admin.client_kill_filter(_id=client_id))


def redis_kills(redis_server: RedisServer) -> tuple[RedisKill, ...]:
    """The clients ``kill_redis_clients`` ended on this server, in order: address, name and when."""
    return tuple(_REDIS_KILLS.get(redis_server, ()))


def kill_clients(server: RedisServer, group: str) -> str:
    return f"killed {kill_redis_clients(server, group)} Redis client(s) of {group or 'every app'}*"

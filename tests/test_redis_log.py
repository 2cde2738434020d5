"""Exact Redis peaks and refusals replayed from Valkey's verbose log: real valkey-server, and a hand-written log."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import redis

from harness.resources.redis import faults
from harness.resources.redis.admin import HARNESS_CONNECTIONS
from harness.resources.redis.log import FinalRead, RedisReplay, exact_or_why, final_read, replay_redis_log
from harness.resources.redis.marks import RedisKill
from harness.resources.redis.sampler import RedisSampler
from harness.resources.redis.server import RedisServer


def _replay(server: RedisServer, final: FinalRead) -> RedisReplay:
    return replay_redis_log(server.log_path, maxclients=server.maxclients + HARNESS_CONNECTIONS,
                            final_clients=final.clients, kills=faults.redis_kills(server))


def _named_socket(port: int, password: str, name: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"*2\r\n$4\r\nAUTH\r\n${len(password)}\r\n{password}\r\n".encode())
    assert sock.recv(16) == b"+OK\r\n"
    sock.sendall(f"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n${len(name)}\r\n{name}\r\n".encode())
    assert sock.recv(16) == b"+OK\r\n"
    return sock


@pytest.mark.e2e
def test_a_spike_between_two_samples_is_counted_exactly_per_group(tmp_path: Path) -> None:
    with RedisServer(run_dir=tmp_path, maxclients=20) as server:
        sampler = RedisSampler(server.admin)
        sampler.start()
        time.sleep(0.2)
        samples = sampler.samples
        while sampler.samples == samples:  # right after a sample: the next one is 50 ms away
            time.sleep(0.0005)
        began = time.monotonic()
        spike = [_named_socket(server.port, server.password, "web.9") for _ in range(5)]
        spike += [_named_socket(server.port, server.password, "worker.9") for _ in range(3)]
        for sock in spike:
            sock.close()
        spike_s = time.monotonic() - began
        time.sleep(0.2)  # the closes reach the log
        sampled = sampler.stop()
        final = final_read(server.admin)
    exact = _replay(server, final)
    assert exact_or_why(exact, final) is None
    assert (exact.total, exact.by_group, exact.rejected) == (8, {"web.9": 5, "worker.9": 3}, 0)
    assert exact.totals()[-1][1] == 0
    assert sampled.total < 8, f"the sampler saw {sampled.total} of a spike of {spike_s * 1000:.1f} ms"


@pytest.mark.e2e
def test_refusals_at_maxclients_match_the_servers_count(tmp_path: Path) -> None:
    """maxclients 4: the apps get 4 (the harness's admin connection has its own slot), the next 2 are refused."""
    with RedisServer(run_dir=tmp_path, maxclients=4) as server:
        held = [redis.Redis(port=server.port, password=server.password, client_name="worker.1", retry=None)
                for _ in range(4)]
        for client in held:
            client.ping()
        for _ in range(2):
            with pytest.raises(redis.RedisError, match="max number of clients reached"):
                redis.Redis(port=server.port, password=server.password, client_name="web.1", retry=None).ping()
        final = final_read(server.admin)
        for client in held:
            client.close()
    exact = _replay(server, final)
    assert final.rejected == 2 and final.marked
    assert (exact.total, exact.by_group, exact.rejected, exact.rejected_at_final) == (4, {"worker.1": 4}, 2, 2)
    assert exact.first_rejected_epoch_s is not None and exact.refused_epoch_s[0] == exact.first_rejected_epoch_s
    assert exact_or_why(exact, final) is None
    # a replay that disagrees with the server is not reported as exact
    assert "server counted 3" in str(exact_or_why(exact, FinalRead(
        clients=final.clients, rejected=3, from_epoch_s=final.from_epoch_s, to_epoch_s=final.to_epoch_s,
        marked=True)))


@pytest.mark.e2e
def test_killed_clients_close_at_the_kill_and_the_ones_open_at_the_end_at_shutdown(tmp_path: Path) -> None:
    with RedisServer(run_dir=tmp_path, maxclients=10) as server:
        workers = [redis.Redis(port=server.port, password=server.password, client_name="worker.1", retry=None)
                   for _ in range(2)]
        web = redis.Redis(port=server.port, password=server.password, client_name="web.1")
        for client in [*workers, web]:
            client.ping()
        assert faults.kill_redis_clients(server, "worker") == 2
        kills = faults.redis_kills(server)
        assert {k.name for k in kills} == {"worker.1"} and len({k.addr for k in kills}) == 2
        again = redis.Redis(port=server.port, password=server.password, client_name="worker.1")
        again.ping()
        final = final_read(server.admin)
        assert sorted(final.clients.values()) == ["connlab-admin", "web.1", "worker.1"]
        # web and the new worker connection stay open until the server stops: no close line of their own
    log = server.log_path.read_text()
    assert log.count("connlab-kill addr=") == 2
    exact = _replay(server, final)
    assert exact_or_why(exact, final) is None
    assert (exact.total, exact.by_group) == (3, {"worker.1": 2, "web.1": 1})
    counts = [n for _, n in exact.totals()]
    assert counts == [1, 2, 3, 2, 1, 2, 1, 0]  # 3 open, 2 killed, 1 reconnects, the last 2 close at shutdown


def _log(lines: list[str]) -> list[str]:
    return [f"7:M {1_800_000_000_000 + int(ms)} {level} {message}" for ms, level, message in
            (line.split(" ", 2) for line in lines)]


def _client(addr: str, name: str) -> str:
    return f"id=1 addr={addr} laddr=127.0.0.1:6379 fd=8 name={name} age=0 idle=0 flags=N cmd=ping user=default"


HAND_WRITTEN = _log([
    "0 * oO0OoO0OoO0Oo Valkey is starting oO0OoO0OoO0Oo",
    "1 - Accepted 127.0.0.1:1000",                      # the harness's admin connection
    "2 - Accepted 127.0.0.1:1001",
    "2 - Accepted 127.0.0.1:1002",
    "3 - Accepted 127.0.0.1:1003",                      # 4 of maxclients 4: the next one is refused
    "4 - Accepted 127.0.0.1:1004",
    "5 - Client closed connection " + _client("127.0.0.1:1001", "web.1"),
    "5 - Accepted 127.0.0.1:1005",                      # same millisecond: 1001 is not freed yet, refused
    "9 - Accepted 127.0.0.1:1006",                      # later: served
    "10 - Protocol error (invalid mbulk count) from client: " + _client("127.0.0.1:1006", "") + ". Query buffer: ''",
    "11 # DEBUG LOG: connlab-kill addr=127.0.0.1:1002 name=worker.1",
    "12 - Accepted 127.0.0.1:1007",
    "13 - Accepted 127.0.0.1:1008",
    "14 - Reading from client: Connection reset by peer",  # 1003, the oldest with no close of its own
    "15 - Client closed connection " + _client("127.0.0.1:1008", "*redacted*"),
    "16 - Accepted 127.0.0.1:1009",
    "17 # DEBUG LOG: connlab-final",
    "18 - Client closed connection " + _client("127.0.0.1:1009", "web.2"),
    "19 # Valkey is now ready to exit, bye bye...",
])
FINAL = {"127.0.0.1:1000": "connlab-admin", "127.0.0.1:1007": "worker.1", "127.0.0.1:1009": "web.2"}


def test_replay_of_a_hand_written_log(tmp_path: Path) -> None:
    path = tmp_path / "redis.log"
    path.write_text("\n".join(HAND_WRITTEN) + "\n")
    kills = [RedisKill(addr="127.0.0.1:1002", name="worker.1", epoch_s=1_800_000_000.0105)]
    exact = replay_redis_log(path, maxclients=4, final_clients=FINAL, kills=kills)
    assert exact.problems == ()
    assert exact.rejected == 2 and exact.rejected_at_final == 2
    assert exact.first_rejected_epoch_s == 1_800_000_000.004
    # 1003 was closed by the reset and never named: (unnamed); 1008's name is redacted: (unnamed) too
    assert exact.by_group == {"web.1": 1, "worker.1": 1, "(unnamed)": 2, "web.2": 1}
    assert exact.total == 3
    assert exact.totals()[-1] == (1_800_000_000.019, 0)
    final = FinalRead(clients=FINAL, rejected=2, from_epoch_s=0, to_epoch_s=0, marked=True)
    assert exact_or_why(exact, final) is None


def test_without_markers_kills_are_placed_by_their_time_and_a_silent_close_is_not_exact(tmp_path: Path) -> None:
    path = tmp_path / "redis.log"
    # without the final marker a reset's close could be any connection's: here 1003 closes with a line of its own
    reset = "Client closed connection " + _client("127.0.0.1:1003", "")
    path.write_text("\n".join(line.replace("Reading from client: Connection reset by peer", reset)
                              for line in HAND_WRITTEN if "DEBUG LOG" not in line) + "\n")
    kills = [RedisKill(addr="127.0.0.1:1002", name="worker.1", epoch_s=1_800_000_000.0105)]
    exact = replay_redis_log(path, maxclients=4, final_clients=FINAL, kills=kills)
    assert (exact.problems, exact.rejected, exact.rejected_at_final, exact.total) == ((), 2, None, 3)
    read = FinalRead(clients=FINAL, rejected=2, from_epoch_s=1_800_000_000.0165, to_epoch_s=1_800_000_000.0175,
                     marked=False)
    assert exact_or_why(exact, read) is None
    # 1007 left without a line (QUIT) and is not in the final CLIENT LIST: counted open to the end, not exact
    silent = replay_redis_log(path, maxclients=4, final_clients={k: v for k, v in FINAL.items() if "1007" not in k},
                              kills=kills)
    assert any("1007" in problem and "without a log line" in problem for problem in silent.problems)
    assert "incomplete" in str(exact_or_why(silent, read))

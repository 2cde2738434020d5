"""Nobody else gets in (issue 16, section 1), tried during a real run the way another local user would.

A second local user reads what ``ps`` shows every user (each process's argv), finds the servers' ports there,
and tries Postgres as the superuser and as the apps' role, without a password and with guesses, and Valkey
with and without a guess: every try is refused. The servers run as the unprivileged ``connlab`` user with no
root group; the run's passwords are in no argv, in no environment the stranger can read, and in no file of the
run folder.
"""

from __future__ import annotations

import contextlib
import encodings.idna  # noqa: F401 - loaded before the fork: the stranger cannot read this interpreter's files
import json
import os
import pwd
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.helpers import ROOT, env_with_marker, processes_under

STRANGER = "connlab-stranger"
#: e2e: starts real servers, apps and Locust (pytest -m "not e2e" leaves it out)
pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0, reason="a second local user needs root to make")]


def _stranger() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(STRANGER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        STRANGER], check=True, capture_output=True)
        return pwd.getpwnam(STRANGER)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def _app_process(marker: str, deadline: float) -> int:
    """The pid of the run's web.1 process (its environment carries the marker and its group)."""
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                env = _environ(int(entry.name))
            except OSError:
                continue
            if marker in env.values() and env.get("CONNLAB_GROUP") == "web.1" and "CONNLAB_DATABASE_URL" in env:
                return int(entry.name)
        time.sleep(0.2)
    raise AssertionError("the run's web.1 never started")


def _listener(port: int) -> int | None:
    """The pid of the process listening on ``port``, from /proc/net/tcp's inode and the processes' fds."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:  # LISTEN
            inodes.add(fields[9])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            return int(entry.name)
    return None


def _server_pid(port: int, name: str, deadline: float) -> int:
    """The server on ``port`` (the apps start beside the servers, so it may not listen yet)."""
    while (pid := _listener(port)) is None:
        assert time.monotonic() < deadline, f"nothing listens on {name}'s port {port}"
        time.sleep(0.1)
    return pid


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def _redis_reply(port: int, *commands: bytes) -> list[str]:
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        for command in commands:
            sock.sendall(command)
            replies.append(sock.recv(200).decode(errors="replace").strip())
    return replies


def _as_stranger(user: pwd.struct_passwd, pg_port: int, redis_port: int, secret_pids: list[int]) -> dict[str, object]:
    """Fork, become ``user`` (no other group), try every way in; the child's findings, through a pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the stranger
        findings: dict[str, object] = {}
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            postgres = []
            for role, guess in (("postgres", None), ("postgres", "postgres"), ("postgres", ""),
                                ("connlab_app", None), ("connlab_app", "connlab")):
                dsn = f"host=127.0.0.1 port={pg_port} user={role} dbname=postgres connect_timeout=3"
                try:
                    psycopg.connect(dsn if guess is None else f"{dsn} password='{guess}'").close()
                    postgres.append(f"{role}/{guess}: got in")
                except psycopg.Error as exc:
                    postgres.append(f"{role}/{guess}: {str(exc).strip().splitlines()[-1]}")
            findings["postgres"] = postgres
            findings["redis"] = _redis_reply(redis_port, b"PING\r\n", b"CONFIG GET maxclients\r\n",
                                             b"AUTH default guess\r\n", b"CLIENT LIST\r\n")
            readable = []
            for secret_pid in secret_pids:
                try:
                    Path(f"/proc/{secret_pid}/environ").read_bytes()
                    readable.append(secret_pid)
                except OSError:
                    pass
            findings["environ_readable"] = readable
            argvs = []
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    with contextlib.suppress(OSError):
                        argvs.append((entry / "cmdline").read_bytes().decode(errors="replace"))
            findings["argvs"] = argvs
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
            findings["error"] = repr(exc)
        os.write(write, json.dumps(findings).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return dict(json.loads(b"".join(chunks)))


def test_a_second_local_user_gets_into_neither_server_during_a_run(tmp_path: Path) -> None:
    stranger = _stranger()
    marker = uuid.uuid4().hex
    run = subprocess.Popen([sys.executable, "-m", "harness", "run", "baseline", "--out", str(tmp_path), "--json"],
                           cwd=ROOT, env=env_with_marker(marker), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        web = _app_process(marker, time.monotonic() + 60)
        env = _environ(web)
        database, cache = urlsplit(env["CONNLAB_DATABASE_URL"]), urlsplit(env["CONNLAB_REDIS_URL"])
        assert database.hostname == cache.hostname == "127.0.0.1"
        passwords = [p for p in (database.password, cache.password) if p]
        assert len(passwords) == 2 and all(len(p) >= 32 for p in passwords), "each server has a password"
        assert database.port is not None and cache.port is not None
        deadline = time.monotonic() + 30
        servers = {"postgres": _server_pid(database.port, "postgres", deadline),
                   "redis": _server_pid(cache.port, "redis", deadline)}
        found = _as_stranger(stranger, database.port, cache.port, [web, *servers.values()])
        for name, pid in servers.items():  # as the unprivileged user, with no root group, no other group
            status, account = _status(pid), pwd.getpwnam("connlab")
            assert status["Uid"].split()[0] == str(account.pw_uid), (name, status["Uid"])
            assert status["Gid"].split()[0] == str(account.pw_gid) != "0", (name, status["Gid"])
            assert status["Groups"] == "", (name, status["Groups"])
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert "error" not in found, found
    assert run.returncode == 0, err[-3000:]
    assert json.loads(out)["verdict"]["prediction_held"] is True
    postgres = found["postgres"]
    assert isinstance(postgres, list) and len(postgres) == 5
    assert all("got in" not in line and "password" in line for line in postgres), postgres
    redis_replies = found["redis"]
    assert isinstance(redis_replies, list)
    assert redis_replies[0].startswith("-NOAUTH") and redis_replies[1].startswith("-NOAUTH"), redis_replies
    assert redis_replies[2].startswith("-WRONGPASS") and redis_replies[3].startswith("-NOAUTH"), redis_replies
    assert found["environ_readable"] == [], "the stranger read an environment holding a password"
    argvs = found["argvs"]
    assert isinstance(argvs, list) and len(argvs) > 10
    assert not [argv for argv in argvs if any(p in argv for p in passwords)], "a password in an argv"
    leaked = [str(path) for path in tmp_path.rglob("*") if path.is_file()
              and any(p.encode() in path.read_bytes() for p in passwords)]
    assert leaked == [], f"a password written into the run folder: {leaked}"
    assert processes_under(marker) == []

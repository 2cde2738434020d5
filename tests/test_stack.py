"""Services as context managers, against real processes: readiness, timeouts, teardown."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from harness.errors import ComponentDied, StackError, StartTimeout
from harness.ground import process
from harness.ground.process import Readiness, Service, log_line_ready, sweep
from harness.resources.postgres.log import replay_postgres_log
from harness.resources.postgres.sampler import PostgresSampler
from harness.resources.postgres.server import PostgresServer
from harness.resources.redis.sampler import RedisSampler
from harness.resources.redis.server import RedisServer
from tests.helpers import processes_under


def test_start_timeout_names_service_wait_and_last_lines(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    service = Service(name="slowpoke", argv=["sh", "-c", f"echo booting {marker}; echo still booting; sleep 60"],
                      log_path=tmp_path / "slow.log",
                      readiness=log_line_ready(tmp_path / "slow.log", "ready!", timeout_s=0.5))
    began = time.monotonic()
    with pytest.raises(StartTimeout) as caught:
        service.start()
    assert time.monotonic() - began < 5
    message = str(caught.value)
    assert "slowpoke was not ready (log line 'ready!') after 0." in message
    assert "still booting" in message
    assert processes_under(marker) == []


def test_a_service_that_exits_while_starting_is_reported(tmp_path: Path) -> None:
    service = Service(name="crasher", argv=["sh", "-c", "echo cannot bind; exit 3"], log_path=tmp_path / "c.log",
                      readiness=Readiness(name="never", check=lambda: False, timeout_s=10))
    with pytest.raises(ComponentDied, match=r"crasher exited with status 3 .*cannot bind"):
        service.start()


def test_stop_kills_the_whole_group_even_children_ignoring_sigterm(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "STOP_GRACE_S", 0.5)
    marker = uuid.uuid4().hex
    script = f"trap '' TERM; (trap '' TERM; sleep 60; echo {marker}) & (sleep 61; echo {marker}) & echo up; wait"
    with Service(name="stubborn", argv=["sh", "-c", script], log_path=tmp_path / "s.log",
                 readiness=log_line_ready(tmp_path / "s.log", "up", timeout_s=5)) as service:
        assert len(processes_under(marker)) == 3
        service.stop(grace_s=0.5)
    assert processes_under(marker) == []


def test_sweep_ends_groups_left_running(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    service = Service(name="forgotten", argv=[sys.executable, "-c", f"import time; time.sleep(60)  # {marker}"],
                      log_path=tmp_path / "f.log", readiness=None)
    service.start()
    deadline = time.monotonic() + 5
    while not processes_under(marker) and time.monotonic() < deadline:  # until it has exec'd
        time.sleep(0.05)
    assert processes_under(marker)
    assert "forgotten" in sweep()
    assert processes_under(marker) == []


@pytest.mark.e2e
def test_postgres_log_replay_gives_exact_peaks_and_refusals(tmp_path: Path) -> None:
    with PostgresServer(run_dir=tmp_path, max_connections=6, superuser_reserved_connections=0) as pg:
        sampler = PostgresSampler(pg.admin)  # has a slot of its own: the apps get all 6
        sampler.start()
        held = [psycopg.connect(pg.app_url + f"?application_name=web.{1 + i % 2}") for i in range(6)]
        refused = 0
        for _ in range(3):
            try:
                psycopg.connect(pg.app_url + "?application_name=web.3")
            except psycopg.OperationalError as exc:
                assert "too many clients already" in str(exc)
                refused += 1
        time.sleep(0.3)
        for conn in held[:2]:
            conn.close()
        brief = psycopg.connect(pg.app_url + "?application_name=rake")
        brief.close()
        sampled = sampler.stop()
        for conn in held[2:]:
            conn.close()
        assert pg.service is not None
        pid = pg.service.pid
    assert refused == 3
    exact = replay_postgres_log(tmp_path / "postgres.log")
    assert exact.total == 6
    assert exact.by_group == {"web.1": 3, "web.2": 3, "rake": 1}
    assert exact.rejected == 3
    assert sampled.total == 6 and sampled.by_group == {"web.1": 3, "web.2": 3}
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.e2e
def test_postgres_reserved_slots_refuse_the_app_role(tmp_path: Path) -> None:
    """The apps get exactly max_connections - reserved while the harness's admin connection is open."""
    with PostgresServer(run_dir=tmp_path, max_connections=5, superuser_reserved_connections=2) as pg:
        assert pg.admin.execute("select count(*) from pg_stat_activity where application_name = 'connlab-admin'") \
            == [(1,)]
        held = [psycopg.connect(pg.app_url + "?application_name=web.1") for _ in range(3)]
        with pytest.raises(psycopg.OperationalError, match="reserved for roles with the SUPERUSER"):
            psycopg.connect(pg.app_url + "?application_name=web.1")
        for conn in held:
            conn.close()
    exact = replay_postgres_log(tmp_path / "postgres.log")
    assert (exact.total, exact.rejected) == (3, 1)


@pytest.mark.e2e
def test_redis_sampler_counts_named_clients_and_rejections(tmp_path: Path) -> None:
    """maxclients 4 gives the apps exactly 4 while the harness's admin connection samples them."""
    with RedisServer(run_dir=tmp_path, maxclients=4) as server:
        sampler = RedisSampler(server.admin)
        sampler.start()
        clients = [redis.Redis(port=server.port, password=server.password, client_name="worker.1", retry=None)
                   for _ in range(4)]
        for client in clients:
            client.ping()
        extra = redis.Redis(port=server.port, password=server.password, client_name="web.1", retry=None)
        with pytest.raises(redis.RedisError, match="max number of clients reached"):
            extra.ping()
        time.sleep(0.3)
        rejected = sampler.rejected()
        peaks = sampler.stop()
        for client in clients:
            client.close()
    assert peaks.by_group == {"worker.1": 4} and peaks.total == 4
    assert rejected == 1


@pytest.mark.e2e
def test_log_replay_closes_everything_at_a_restart_and_the_sampler_reconnects(tmp_path: Path) -> None:
    with PostgresServer(run_dir=tmp_path, max_connections=20, superuser_reserved_connections=3) as pg:
        sampler = PostgresSampler(pg.admin)
        sampler.start()
        before = [psycopg.connect(pg.app_url + "?application_name=web.1") for _ in range(4)]
        time.sleep(0.2)
        pg.restart()  # the four die without a disconnection line of their own
        after = [psycopg.connect(pg.app_url + "?application_name=web.1") for _ in range(3)]
        time.sleep(0.3)
        sampled = sampler.stop()
        for conn in before + after:
            conn.close()
    exact = replay_postgres_log(tmp_path / "postgres.log")
    assert exact.total == 4 and exact.by_group == {"web.1": 4}  # not 4 + 3
    assert exact.totals()[-1][1] == 0
    assert sampled.total == 4 and sampler.error is not None  # it saw the restart, then sampled again


@pytest.mark.e2e
def test_faults_end_only_the_named_group(tmp_path: Path) -> None:
    from harness.resources.postgres import faults as postgres_faults
    from harness.resources.redis import faults as redis_faults

    with PostgresServer(run_dir=tmp_path, max_connections=20, superuser_reserved_connections=3) as pg, \
            RedisServer(run_dir=tmp_path, maxclients=20) as server:
        web = [psycopg.connect(pg.app_url + "?application_name=web.1") for _ in range(2)]
        worker = psycopg.connect(pg.app_url + "?application_name=worker.1")
        assert postgres_faults.terminate_backends(pg, "web") == 2
        with pytest.raises(psycopg.OperationalError, match="terminating connection"):
            web[0].execute("select 1")
        assert worker.execute("select 1").fetchone() == (1,)
        clients = [redis.Redis(port=server.port, password=server.password, client_name=name)
                   for name in ("worker.1", "web.1")]
        ids = [client.client_id() for client in clients]
        assert redis_faults.kill_redis_clients(server, "worker") == 1
        left = {int(entry["id"]) for entry in server.admin.client_list()}
        assert ids[0] not in left and ids[1] in left


@pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")),
                    reason="no Debian postgresql (apt-get install postgresql-15; .ci/run installs it)")
@pytest.mark.e2e
def test_ssl_postgres_serves_tls_with_a_throwaway_certificate(tmp_path: Path) -> None:
    with PostgresServer(run_dir=tmp_path, max_connections=10, superuser_reserved_connections=3, ssl=True) as pg:
        assert pg.app_url.endswith("?sslmode=require")
        with psycopg.connect(pg.app_url + "&application_name=web.1") as conn:
            row = conn.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()
    assert row == (True,)
    assert "SSL enabled" in (tmp_path / "postgres.log").read_text()


@pytest.mark.e2e
def test_initdb_on_a_full_disk_says_so_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """initdb's last line alone is only "removing data directory": the cause is its FATAL line."""
    full = Path(tempfile.mkdtemp(prefix="connlab-test-full-"))  # not under tmp_path: the server user must reach it
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(full)],
                                           capture_output=True, check=False).returncode != 0:
        full.rmdir()
        pytest.skip("a 3 MB tmpfs needs root and mount")
    try:
        full.chmod(0o1777)
        made = tempfile.mkdtemp

        def cluster_on_the_full_disk(*args: Any, **kwargs: Any) -> str:
            # the cluster's folder goes there; not the copy of the binaries a 0700 checkout needs (CI's)
            return made(*args, **{**kwargs, "dir": str(full)}) if kwargs.get("prefix") == "connlab-pg-" else \
                made(*args, **kwargs)

        monkeypatch.setattr(tempfile, "mkdtemp", cluster_on_the_full_disk)
        with pytest.raises(StackError, match="No space left on device"):
            PostgresServer(run_dir=tmp_path, max_connections=5, superuser_reserved_connections=1).start()
        assert list(full.iterdir()) == []
    finally:
        subprocess.run(["umount", str(full)], check=False)
        full.rmdir()

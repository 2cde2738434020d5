"""``connlab compose``: the compose document checked by hand, its passwords file, the engine found or started as
``connlab run --backend docker`` finds or starts it, and one file brought up for real with Debian's docker-compose
(v1), skipped, saying why, where no Docker engine answers or docker-compose is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from harness import compose
from harness.compose import LABEL, Images, Ports, compose_document, render, secret
from harness.errors import ExitCode, MissingDependency, PlanError
from harness.ground.process import free_port
from harness.plan import Plan, load_plan
from harness.stack.engine import docker_client
from tests.helpers import ROOT, env_with_marker, processes_under

IMAGES = Images(servers={"postgres": "connlab/postgres:aaa", "redis": "connlab/valkey:bbb"},
                app="connlab/rails-app:ccc")


def _scenario(folder: Path, name: str, *, dynos: int, workers: int, extra: str = "") -> Path:
    worker = f"  worker: {{processes: {workers}, concurrency: 2, pool: 2}}\n" if workers else ""
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\napp: rails\n"
                    "postgres: {max_connections: 15, superuser_reserved_connections: 3}\n"
                    f"redis: {{maxclients: 20}}\n{extra}"
                    f"tiers:\n  web: {{dynos: {dynos}, processes: 1, threads: 2, pool: 2}}\n{worker}"
                    "traffic:\n  query_ms: 100\n  stages:\n    - {duration_s: 2, users: 2, spawn_rate: 10}\n")
    return path


def _plan(folder: Path, **kwargs: Any) -> Plan:
    return load_plan(_scenario(folder, "tiny", **kwargs))


def test_the_document_has_a_service_per_server_dyno_and_worker(tmp_path: Path) -> None:
    plan = _plan(tmp_path, dynos=3, workers=2)
    document = compose_document(plan, IMAGES, Ports(servers={"postgres": 25432, "redis": 26379}, web=28001))
    services = document["services"]
    assert list(services) == ["postgres", "redis", "setup", "web-1", "web-2", "web-3", "worker-1", "worker-2"]
    assert all(service["labels"] == {LABEL: "tiny"} for service in services.values())
    assert document["networks"]["default"]["labels"] == {LABEL: "tiny"}
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    assert published == {"postgres": ["127.0.0.1:25432:5432"], "redis": ["127.0.0.1:26379:6379"],
                         "web-1": ["127.0.0.1:28001:3000"], "web-2": ["127.0.0.1:28002:3000"],
                         "web-3": ["127.0.0.1:28003:3000"]}
    # the plan's limits exactly: no harness, so no slot for its admin connection (connlab run starts 16 and 21)
    postgres = services["postgres"]["command"]
    assert postgres[postgres.index("max_connections=15") - 1] == "-c"
    assert "superuser_reserved_connections=3" in postgres and "max_connections=16" not in postgres
    redis = services["redis"]["command"]
    assert redis[redis.index("--maxclients") + 1] == "20"
    assert [services[s]["image"] for s in ("postgres", "redis", "setup", "web-1", "worker-2")] == [
        IMAGES.servers["postgres"], IMAGES.servers["redis"], IMAGES.servers["postgres"], IMAGES.app, IMAGES.app]
    web2, worker2 = services["web-2"]["environment"], services["worker-2"]["environment"]
    assert web2["CONNLAB_GROUP"] == "web.2" and worker2["CONNLAB_GROUP"] == "worker.2"
    # passwords by reference only, filled in by compose from the environment or --env-file
    assert web2["CONNLAB_DATABASE_URL"] == worker2["CONNLAB_DATABASE_URL"] == \
        f"postgresql://connlab_app:{secret('CONNLAB_APP_PASSWORD')}@postgres:5432/connlab"
    assert web2["CONNLAB_REDIS_URL"] == f"redis://:{secret('CONNLAB_REDIS_PASSWORD')}@redis:6379/0"
    assert services["postgres"]["environment"] == {"CONNLAB_POSTGRES_PASSWORD": secret("CONNLAB_POSTGRES_PASSWORD")}
    assert services["redis"]["environment"] == {"CONNLAB_REDIS_PASSWORD": secret("CONNLAB_REDIS_PASSWORD")}
    assert services["setup"]["environment"]["PGPASSWORD"] == secret("CONNLAB_POSTGRES_PASSWORD")
    assert (web2["CONNLAB_PORT"], web2["CONNLAB_BIND"], web2["CONNLAB_THREADS"], web2["CONNLAB_POOL"]) == \
        ("3000", "0.0.0.0", "2", "2")
    assert "CONNLAB_BIND" not in worker2 and "CONNLAB_PYTHON" not in web2  # the host's interpreter: not here
    assert services["web-1"]["command"] == ["bin/web"] and services["worker-1"]["command"] == ["bin/worker"]
    assert services["web-1"]["depends_on"]["setup"] == {"condition": "service_completed_successfully"}
    assert f"CREATE ROLE connlab_app LOGIN PASSWORD ''{secret('CONNLAB_APP_PASSWORD')}''" in \
        services["setup"]["entrypoint"][2]


def test_the_file_is_the_document_under_a_header_saying_how_to_run_it(tmp_path: Path) -> None:
    plan = _plan(tmp_path, dynos=2, workers=0)
    text = render(plan, IMAGES)
    head, _, body = text.partition("\n\n")
    assert all(line.startswith("#") for line in head.splitlines())
    for words in ("docker compose --env-file FILE.env -f FILE up", "docker-compose --env-file FILE.env",
                  IMAGES.servers["postgres"], IMAGES.servers["redis"], IMAGES.app, "max_connections=15",
                  "maxclients=20", "http://127.0.0.1:18002"):
        assert words in head
    assert yaml.safe_load(text) == compose_document(plan, IMAGES)
    assert "&id" not in body and "*id" not in body  # no YAML anchors for a person to decode


def test_an_app_without_an_image_or_ssl_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose, "APPS_WITH_IMAGES", ("rails",))
    twin = _scenario(tmp_path, "twin", dynos=1, workers=0)
    twin.write_text(twin.read_text().replace("app: rails", "app: python"))
    ssl = _scenario(tmp_path, "ssl", dynos=1, workers=0)
    ssl.write_text(ssl.read_text().replace("reserved_connections: 3}", "reserved_connections: 3, ssl: true}"))
    for path, words in ((twin, "app: compose files run rails so far"), (ssl, "postgres.ssl")):
        with pytest.raises(PlanError) as raised:
            compose_document(load_plan(path), IMAGES)
        assert len(raised.value.problems) == 1 and words in raised.value.problems[0]


def test_the_passwords_file_is_created_0600_and_anew_each_time(tmp_path: Path) -> None:
    file = tmp_path / "deep" / "compose.yaml"
    old_umask = os.umask(0)  # the most permissive umask: the mode comes from the file's creation alone
    try:
        secrets = compose.write("services: {}\n", file)
        first = secrets.read_text()
        secrets.chmod(0o644)  # a file left readable by someone: replaced, not reused
        assert compose.write("services: {}\n", file) == secrets
    finally:
        os.umask(old_umask)
    assert secrets == tmp_path / "deep" / "compose.yaml.env" and file.read_text() == "services: {}\n"
    assert secrets.stat().st_mode & 0o777 == 0o600
    second = dict(line.split("=", 1) for line in secrets.read_text().split())
    assert sorted(second) == sorted(compose.SECRETS) and all(len(value) == 32 for value in second.values())
    assert not set(second.values()) & set(dict(line.split("=", 1) for line in first.split()).values())


def _engine_answers() -> bool:
    try:
        docker_client().close()
    except MissingDependency:
        return False
    return True


def _compose_cli(scenario: Path, file: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "compose", str(scenario), "-o", str(file)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)  # a first run builds


@pytest.mark.e2e
def test_compose_starts_an_engine_when_none_answers_and_stops_it_after(tmp_path: Path) -> None:
    if _engine_answers():
        pytest.skip("a Docker engine answers already: compose uses it and leaves it running")
    if os.geteuid() != 0 or shutil.which("dockerd") is None or "DOCKER_HOST" in os.environ or \
            os.environ.get("CONNLAB_NO_INSTALL", "") not in ("", "0"):
        pytest.skip("connlab starts a dockerd only as root, with dockerd installed and no DOCKER_HOST")
    marker = f"compose-engine-{uuid.uuid4().hex[:10]}"
    env = {key: value for key, value in env_with_marker(marker).items() if key != "CONNLAB_NO_INSTALL"}
    file = tmp_path / "compose.yaml"
    done = _compose_cli(_scenario(tmp_path, "engine", dynos=1, workers=0), file, env)
    assert done.returncode == ExitCode.OK, done.stderr[-2000:]
    for words in ("no Docker engine answers: starting one for this run", "dockerd started in",
                  "stopping the dockerd started for the images", f"wrote {file}"):
        assert words in done.stderr, done.stderr[-2000:]
    assert "connlab/rails-app:" in file.read_text()
    # the dockerd was in the run's registry while it ran (a killed compose's reaper ends it), and is gone now
    assert processes_under(marker) == [] and not _engine_answers()
    assert list(Path(env["CONNLAB_RUNS_DIR"]).iterdir()) == []  # the run ended: its record removed


@pytest.mark.e2e
def test_without_an_engine_compose_answers_as_run_on_docker_does(tmp_path: Path) -> None:
    if _engine_answers():
        pytest.skip("a Docker engine answers: nothing to refuse")
    env = {**env_with_marker(f"compose-none-{uuid.uuid4().hex[:10]}"), "CONNLAB_NO_INSTALL": "1"}
    scenario = _scenario(tmp_path, "none", dynos=1, workers=0)
    composed = _compose_cli(scenario, tmp_path / "compose.yaml", env)
    ran = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--backend", "docker", "--out",
                          str(tmp_path / "runs")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert composed.returncode == ran.returncode == ExitCode.MISSING_DEPENDENCY, (composed.stderr, ran.stderr)
    refusal = composed.stderr.strip().splitlines()[-1]
    assert refusal.startswith("connlab: no Docker engine answers at ") and refusal == \
        ran.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "compose.yaml").exists()


def _http(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as reply:  # noqa: S310 - loopback only
            return int(reply.status), reply.read().decode()
    except OSError:
        return 0, ""


@pytest.mark.e2e
def test_docker_compose_brings_the_file_up_and_down(client: Any, tmp_path: Path) -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("Debian's docker-compose (v1) is missing: apt-get install docker-compose")
    token = uuid.uuid4().hex[:10]
    name, project = f"compose-test-{token}", f"connlab-test-{token}"
    scenario = _scenario(tmp_path, name, dynos=1, workers=1)
    pg_port, redis_port, web_port = free_port(), free_port(), free_port()
    file = tmp_path / "compose.yaml"
    began = time.monotonic()
    written = subprocess.run([sys.executable, "-m", "harness", "compose", str(scenario), "-o", str(file),
                              "--postgres-port", str(pg_port), "--redis-port", str(redis_port),
                              "--web-port", str(web_port)],
                             capture_output=True, text=True, cwd=ROOT, timeout=900)  # a first run builds images
    assert written.returncode == 0, written.stderr[-2000:]
    built_s = time.monotonic() - began
    secrets = file.with_name(file.name + ".env")
    assert secrets.stat().st_mode & 0o777 == 0o600
    password = dict(line.split("=", 1) for line in secrets.read_text().split())["CONNLAB_POSTGRES_PASSWORD"]
    assert password not in file.read_text()  # the file names the passwords, never holds them
    base = ["docker-compose", "--env-file", str(secrets), "-p", project, "-f", str(file)]

    def logs() -> str:
        return subprocess.run([*base, "logs", "--no-color", "--tail", "10"], capture_output=True, text=True,
                              timeout=30).stdout[-3000:]

    try:
        up = subprocess.run([*base, "up", "-d"], capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stderr[-2000:]
        deadline = time.monotonic() + 45
        while _http(f"http://127.0.0.1:{web_port}/health")[0] != 200:
            assert time.monotonic() < deadline, f"web-1 never answered /health:\n{logs()}"
            time.sleep(0.2)
        assert _http(f"http://127.0.0.1:{web_port}/db?ms=50") == (200, "ok"), logs()
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"host=127.0.0.1 port={pg_port} user=postgres dbname=postgres connect_timeout=5")
        with psycopg.connect(f"host=127.0.0.1 port={pg_port} user=postgres password={password} dbname=postgres "
                             "connect_timeout=5",
                             autocommit=True) as admin:
            clients = admin.execute("select application_name, usename from pg_stat_activity "
                                    "where backend_type = 'client backend' and usename = 'connlab_app'").fetchall()
            limit = admin.execute("show max_connections").fetchall()
        assert ("web.1", "connlab_app") in clients, logs()
        assert limit == [("15",)]  # the plan's, exactly
        ours = client.containers.list(all=True, ignore_removed=True, filters={"label": f"{LABEL}={name}"})
        assert sorted(c.labels["com.docker.compose.service"] for c in ours) == [
            "postgres", "redis", "setup", "web-1", "worker-1"]
        assert {c.labels["com.docker.compose.service"]: c.status for c in ours}["setup"] == "exited"
    finally:
        down = subprocess.run([*base, "down", "-v", "--timeout", "5"], capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr[-2000:]
    assert client.containers.list(all=True, ignore_removed=True, filters={"label": f"{LABEL}={name}"}) == []
    assert client.networks.list(filters={"label": f"{LABEL}={name}"}) == []
    print(f"compose file written in {built_s:.1f} s; up, checked and down in {time.monotonic() - began:.1f} s")

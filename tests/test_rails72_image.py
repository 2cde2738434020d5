"""The Rails app on Rails 7.2 / Puma 6 / Sidekiq 7 (stacks/images/rails/, trixie's packages).

The image holds the gems only; the app (stacks/rails/) goes on top in a
thin ``FROM <gems> / COPY app /app`` layer built from a context assembled here,
because ``ensure_image``'s context is stacks/images/rails/ alone. Puma
runs with ``--network host``, so it binds 127.0.0.1 as locally and reaches the
local Postgres on 127.0.0.1.

``python -m tests.test_rails72_image`` compares Rails 6.1 (local) with 7.2
(image): how long a request holds its database connection when it runs one
model query and then does work that touches no database (``/db?work_ms=``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harness.assets import scenario_path
from harness.ground.process import free_port
from harness.plan import load_plan
from harness.resources.postgres.server import PostgresServer
from harness.stack.apps import Endpoints, web_settings
from harness.stack.engine import docker_client
from harness.stack.images import ensure_app_image

#: starts real servers, apps, Locust or the Docker engine (pytest -m "not e2e" leaves it out)
pytestmark = pytest.mark.e2e

RAILS_APP = Path(__file__).resolve().parent.parent / "stacks" / "rails"
VERSIONS = ("ruby -e 'require \"rails\"; require \"puma\"; require \"sidekiq\"; "
            "puts [Rails.version, Puma::Const::PUMA_VERSION, Sidekiq::VERSION].join(\" \")'")


def app_image(client: Any, say: Callable[[str], None] = print) -> str:
    """The Rails app on its 7.2 runtime image (``ensure_app_image``, cached by hash)."""
    return ensure_app_image(client, "rails", say).tag


def web_env(pg: PostgresServer, group: str, port: int, *, pool: int, threads: int, workers: int = 1,
            checkout_timeout_s: float = 5.0) -> dict[str, str]:
    return {"CONNLAB_DATABASE_URL": pg.app_url, "CONNLAB_REDIS_URL": "redis://127.0.0.1:1/0",
            "CONNLAB_GROUP": group, "CONNLAB_POOL": str(pool), "CONNLAB_THREADS": str(threads),
            "CONNLAB_WORKERS": str(workers), "CONNLAB_PORT": str(port),
            "CONNLAB_CHECKOUT_TIMEOUT_S": str(checkout_timeout_s)}


def _get(url: str, timeout_s: float = 30.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:
            reply.read()
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def wait_health(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if _get(f"http://127.0.0.1:{port}/health", 2.0) == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"/health on port {port} did not answer within {timeout_s} s")
        time.sleep(0.2)


def replay_pool(log: str) -> dict[str, float]:
    """Replays the app's ``connlab-pool`` lines (CONNLAB_POOL_LOG=1): checkouts, most connections checked
    out at once, the mean checked out over the run, and how long one checkout lasted on average (ms)."""
    events = []
    for line in log.splitlines():
        words = line.split()
        if words[:1] == ["connlab-pool"]:
            events.append((float(words[3][2:]), 1 if words[1] == "checkout" else -1))
    events.sort()  # a checkin (-1) first at the same instant
    held = peak = 0
    area = 0.0
    for (t, step), (t_next, _) in zip(events, events[1:] + events[-1:], strict=True):
        held += step
        peak = max(peak, held)
        area += held * (t_next - t)
    checkouts = sum(1 for _, step in events if step > 0)
    span = events[-1][0] - events[0][0] if events else 0.0
    return {"checkouts": checkouts, "peak_held": peak, "mean_held": round(area / span, 2) if span else 0.0,
            "ms_per_checkout": round(1000 * area / checkouts, 1) if checkouts else 0.0}


@contextmanager
def local_web(env: dict[str, str], log: Path) -> Iterator[Callable[[], str]]:
    """bin/web on this machine's gems (Rails 6.1), its process group killed at the end; yields its log."""
    with log.open("wb") as out:
        proc = subprocess.Popen([str(RAILS_APP / "bin" / "web")], cwd=RAILS_APP, env={**os.environ, **env},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_health(int(env["CONNLAB_PORT"]))
        yield log.read_text
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def container_web(client: Any, tag: str, env: dict[str, str]) -> Iterator[Callable[[], str]]:
    """bin/web in the image with host networking (binds 127.0.0.1:PORT), removed at the end; yields its log."""
    container = client.containers.run(tag, ["bin/web"], environment=env, network_mode="host", detach=True,
                                      labels={"connlab.run": str(uuid.uuid4())},
                                      name=f"connlab-rails72-{uuid.uuid4().hex[:8]}")
    try:
        try:
            wait_health(int(env["CONNLAB_PORT"]))
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; container log: {container.logs(tail=20).decode(errors='replace')}") from exc
        yield lambda: str(container.logs().decode(errors="replace"))
    finally:
        container.remove(force=True)


def drive(pg: PostgresServer, group: str, port: int, *, clients: int, seconds: float, query_ms: int,
          work_ms: int) -> dict[str, Any]:
    """``clients`` loops of ``/db?ms=query_ms&work_ms=work_ms`` for ``seconds`` (starts staggered over one
    request's length); samples the group's Postgres connections every 20 ms. Returns the peak of open
    connections, the statuses and requests/s."""
    url = f"http://127.0.0.1:{port}/db?ms={query_ms}&work_ms={work_ms}"
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    peak = {"open": 0, "active": 0}

    def client(i: int) -> None:
        time.sleep(i * (query_ms + work_ms) / 1000.0 / clients)
        while time.monotonic() < stop:
            status = _get(url)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    def sample() -> None:
        while time.monotonic() < stop:
            rows = pg.admin.execute("select count(*), count(*) filter (where state = 'active') "
                                    "from pg_stat_activity where application_name = %s", (group,))
            peak["open"] = max(peak["open"], int(rows[0][0]))
            peak["active"] = max(peak["active"], int(rows[0][1]))
            time.sleep(0.02)

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)] + [threading.Thread(target=sample)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    done = sum(statuses.values())
    return {"peak_open": peak["open"], "peak_active": peak["active"], "statuses": statuses,
            "requests": done, "per_s": round(done / elapsed, 2)}


def test_rails72_image_serves_and_releases_between_queries(client: Any, tmp_path: Path) -> None:
    tag = app_image(client)
    versions = client.containers.run(tag, ["sh", "-c", VERSIONS], remove=True).decode().split()
    rails, puma, sidekiq = versions
    assert rails.startswith("7.2."), versions
    assert puma.startswith("6."), versions
    assert sidekiq.startswith("7."), versions
    with PostgresServer(run_dir=tmp_path, max_connections=20, superuser_reserved_connections=3) as pg:
        port = free_port()
        env = web_env(pg, "web.1", port, pool=1, threads=4, checkout_timeout_s=5.0)
        env["CONNLAB_POOL_LOG"] = "1"
        with container_web(client, tag, env) as log:
            assert _get(f"http://127.0.0.1:{port}/health") == 200
            assert _get(f"http://127.0.0.1:{port}/db?ms=10") == 200
            # pool 1, 4 threads, 8 clients, 100 ms query + 300 ms work: Rails 7.2 holds the connection for the
            # query only, so the one connection serves all 4 threads (~10 req/s); Rails 6.1 would hold it
            # the whole request (~2.5 req/s, the rest waiting for it).
            result = drive(pg, "web.1", port, clients=8, seconds=4.0, query_ms=100, work_ms=300)
            pool = replay_pool(log())
    # one checkout per query, held for the query (100 ms), not the request (400 ms)
    assert pool["checkouts"] >= result["requests"] and 50 < pool["ms_per_checkout"] < 200, (pool, result)
    assert result["peak_open"] == 1, result
    assert set(result["statuses"]) == {200}, result
    assert result["per_s"] > 6.0, result


def test_the_sidekiq_client_pool_is_built_before_any_thread_serves(client: Any) -> None:
    """Sidekiq 7 builds its client pool (what web threads enqueue through) on first use with ``@redis ||=``
    (``Sidekiq::Config#local_redis_pool``), not thread-safe: measured in this image, 42 of 2000 first uses by 5
    threads built more than one pool, each opening connections of its own. Sidekiq 6.4 builds it in
    ``config.redis =``. The app builds it at boot, empty, on the client side; a Sidekiq server is left alone."""
    endpoints = Endpoints(variables={"CONNLAB_DATABASE_URL": "postgres://connlab@127.0.0.1:9/connlab",
                                     "CONNLAB_REDIS_URL": "redis://127.0.0.1:9/0"})
    env = web_settings(load_plan(scenario_path("rails-redis-full")), endpoints, dyno=1, port=9)  # a dyno's own
    script = ('require "./app"; pool = Sidekiq.default_configuration.instance_variable_get(:@redis); '
              'seen = Array.new(5) { Thread.new { Sidekiq.redis_pool } }.map(&:value); '
              'puts pool.class, seen.map(&:object_id).uniq.size, seen.first.equal?(pool)')
    out = client.containers.run(app_image(client), ["ruby", "-e", script], environment=env, network_mode="none",
                                remove=True, labels={"connlab.run": str(uuid.uuid4())}).decode()
    assert out.split()[-3:] == ["ConnectionPool", "1", "true"], out[-2000:]


def main() -> None:
    """Rails 6.1 (local) vs 7.2 (image), 1 worker x 4 threads, 8 clients, 100 ms query + 400 ms work."""
    engine = docker_client()
    tag = app_image(engine)
    print("image", tag, engine.containers.run(tag, ["sh", "-c", VERSIONS], remove=True).decode().strip())
    seconds = float(os.environ.get("SECONDS_PER_RUN", "8"))
    with tempfile.TemporaryDirectory(prefix="connlab-rails72-") as folder, \
            PostgresServer(run_dir=Path(folder), max_connections=30, superuser_reserved_connections=3) as pg:
        for pool in (4, 1):
            for name in ("6.1 local", "7.2 image"):
                port = free_port()
                group = f"web.{name[:3]}.{pool}"
                env = web_env(pg, group, port, pool=pool, threads=4, checkout_timeout_s=10.0)
                env["CONNLAB_POOL_LOG"] = "1"
                runner = (local_web(env, Path(folder) / f"{group}.log") if name.startswith("6.1")
                          else container_web(engine, tag, env))
                with runner as log:
                    result = drive(pg, group, port, clients=8, seconds=seconds, query_ms=100, work_ms=400)
                    result.update(replay_pool(log()))
                print(f"rails {name}: pool {pool}, 1 worker x 4 threads, 8 clients, {seconds} s: {result}", flush=True)


if __name__ == "__main__":
    main()

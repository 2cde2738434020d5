"""The docker stack: Postgres 17, Valkey and the app (Rails 7.2 or the Python twin) as containers, one per dyno.

``DockerStack`` implements ``harness.stack.base.Stack``. Postgres and Valkey
run from ``containers.py`` (published on 127.0.0.1, the harness's slot apart);
every app process is a container of the app image with the host's network
(``--network host``), so Puma binds 127.0.0.1 as it does locally and reaches the
servers' published ports, and each dyno has its own ``CONNLAB_GROUP``. Every
container carries the run's label; ``down`` removes whatever carries it, on a
normal end, Ctrl-C, SIGTERM or a crash.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ComponentDied, PlanError
from harness.ground import registry
from harness.ground.process import free_port
from harness.plan import Extra, Plan
from harness.stack.apps import READY_LINE, Endpoints, oneoff_settings, web_settings, worker_settings
from harness.stack.base import ServerFaces
from harness.stack.containers import (
    RUN_LABEL,
    PostgresContainer,
    RedisContainer,
    last_lines,
    remove_labelled,
    wait_ready,
)
from harness.stack.engine import RunEngine
from harness.stack.images import ensure_app_image
from harness.validate import inside

APPS_WITH_IMAGES = ("rails", "python")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 3
#: One-off containers started at once by a burst (the engine serialises much of a create; more threads only queue).
ONEOFF_STARTERS = 8


@dataclass(frozen=True)
class DockerDeployment:
    old: tuple[str, ...]


@dataclass(kw_only=True)
class _App:
    """One app container: its name (the group), the container, and for a dyno the URL it serves."""

    name: str
    container: Any
    base: str = ""


class DockerStack(ServerFaces):
    backend = "docker"
    postgres_log_is_live = False  # the container's output is saved into it at teardown

    def __init__(self, plan: Plan, run_dir: Path, *, say: Any = lambda _: None) -> None:
        if plan.app not in APPS_WITH_IMAGES:
            raise PlanError([f"{plan.path}: app: the docker backend runs {', '.join(APPS_WITH_IMAGES)} so far, "
                             f"got {plan.app!r}; use --backend local for it"])
        if plan.postgres.ssl:
            raise PlanError([f"{plan.path}: postgres.ssl: the docker backend runs Postgres without SSL so far; "
                             "use --backend local for it"])
        self.plan = plan
        self.run_dir = run_dir
        self.say = say
        self.engine = RunEngine(say=say)
        self.client = self.engine.start()
        self.run_id = uuid.uuid4().hex
        registry.note_label(self.run_id)  # a killed harness's containers go with its reaper or the next run
        self.postgres: PostgresContainer = PostgresContainer(
            client=self.client, run_id=self.run_id, run_dir=run_dir, say=say,
            max_connections=plan.postgres.max_connections,
            superuser_reserved_connections=plan.postgres.superuser_reserved_connections)
        self.redis: RedisContainer = RedisContainer(
            client=self.client, run_id=self.run_id, run_dir=run_dir, say=say, maxclients=plan.redis.maxclients)
        self.endpoints = Endpoints(database_url=self.postgres.app_url, redis_url=self.redis.url)
        self.image = ""
        self.web: list[_App] = []
        self.retiring: set[str] = set()
        self.workers: list[_App] = []
        self.oneoffs: list[_App] = []
        self._next_dyno = 1
        self.startup_s: dict[str, float] = {}
        self.up_s: float | None = None
        self.versions: dict[str, str] = {}
        self._lock = threading.Lock()
        self._down = False  # a whole down() ran: the engine this run started may be gone, so nothing more to ask it

    # -- app containers ------------------------------------------------------------------------

    def _run_app(self, name: str, command: str, settings: dict[str, str]) -> Any:
        # the image's own interpreter, not the harness's (CONNLAB_PYTHON names the host's venv)
        settings = {**settings, "CONNLAB_PYTHON": "python3"}
        return self.client.containers.run(
            self.image, [f"bin/{command}"], environment=settings, network_mode="host", working_dir="/app",
            labels={RUN_LABEL: self.run_id}, name=f"connlab-{self.run_id[:12]}-{name.replace('#', '-')}",
            detach=True)

    def _wait(self, app: _App, ready: Any, strategy: str) -> None:
        wait_ready(app.container, name=app.name, ready=ready, strategy=strategy, timeout_s=READY_TIMEOUT_S)

    def _start_dyno(self, dyno: int) -> None:
        began = time.monotonic()
        port = free_port()
        name = f"web.{dyno}"
        app = _App(name=name, container=self._run_app(name, "web", web_settings(self.plan, self.endpoints,
                                                                                 dyno=dyno, port=port)),
                   base=f"http://127.0.0.1:{port}")
        with self._lock:
            self.web.append(app)
        self._wait(app, lambda: _http_ok(f"{app.base}/health"), f"GET {app.base}/health")
        with self._lock:
            self.startup_s[name] = round(time.monotonic() - began, 3)

    def _start_worker(self, process: int) -> None:
        began = time.monotonic()
        name = f"worker.{process}"
        app = _App(name=name, container=self._run_app(name, "worker", worker_settings(self.plan, self.endpoints,
                                                                                       process=process)))
        with self._lock:
            self.workers.append(app)
        self._wait(app, lambda: READY_LINE in bytes(app.container.logs()).decode(errors="replace"),
                   f"log line {READY_LINE!r}")
        with self._lock:
            self.startup_s[name] = round(time.monotonic() - began, 3)

    def _new_dynos(self, count: int) -> list[int]:
        with self._lock:
            numbers = list(range(self._next_dyno, self._next_dyno + count))
            self._next_dyno += count
        return numbers

    def _start_dynos(self, numbers: list[int]) -> None:
        with ThreadPoolExecutor(max_workers=max(1, len(numbers))) as pool:
            list(pool.map(self._start_dyno, numbers))

    # -- Stack --------------------------------------------------------------------------------

    def up(self) -> None:
        began = time.monotonic()
        try:
            self.image = ensure_app_image(self.client, self.plan.app, self.say).tag
            self.startup_s["images"] = round(time.monotonic() - began, 3)
            with ThreadPoolExecutor(max_workers=2) as pool:
                for name, future in (("postgres", pool.submit(self.postgres.start)),
                                     ("redis", pool.submit(self.redis.start))):
                    future.result()
                    self.startup_s[name] = round(time.monotonic() - began, 3)
            workers = range(1, self.plan.worker.processes + 1) if self.plan.worker else range(0)
            with ThreadPoolExecutor(max_workers=1 + len(workers)) as pool:
                futures = [pool.submit(self._start_dynos, self._new_dynos(self.plan.web.dynos))]
                futures += [pool.submit(self._start_worker, w) for w in workers]
                for future in futures:
                    future.result()
        except BaseException:
            self.down()
            raise
        self._up_done(began, self.web_targets)

    def down(self) -> None:
        """Apps first (their disconnections reach the logs), their output saved, then the servers; then the label."""
        if self._down:
            return
        with self._lock:
            apps = self.web + self.workers + self.oneoffs
        with ThreadPoolExecutor(max_workers=max(1, len(apps))) as pool:
            list(pool.map(self._stop_app, apps))
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda stop: stop(), [self.postgres.stop, self.redis.stop]))
        remove_labelled(self.client, self.run_id)
        self.engine.stop()  # only a dockerd this run started
        self._down = True

    def _stop_app(self, app: _App) -> None:
        with contextlib.suppress(Exception):
            app.container.stop(timeout=STOP_TIMEOUT_S)
        with contextlib.suppress(Exception):
            inside(self.run_dir, f"{app.name.replace('#', '.')}.log").write_bytes(bytes(app.container.logs()))
        with contextlib.suppress(Exception):
            app.container.remove(force=True)

    def check_alive(self) -> None:
        with self._lock:
            apps = self.web + self.workers
        for app in apps:
            if app.name in self.retiring:
                continue
            app.container.reload()
            if app.container.status == "exited":
                raise ComponentDied(app.name, app.container.attrs["State"]["ExitCode"], last_lines(app.container))

    @property
    def web_targets(self) -> list[str]:
        with self._lock:
            return [app.base for app in self.web if app.name not in self.retiring]

    @property
    def web_dynos(self) -> int:
        with self._lock:
            return len(self.web)

    def scale_web(self, dynos: int) -> None:
        current = self.web_dynos
        if dynos > current:
            self._start_dynos(self._new_dynos(dynos - current))
        elif dynos < current:
            with self._lock:
                leaving, self.web = self.web[dynos:], self.web[:dynos]
            for app in leaving:
                self._stop_app(app)

    def deploy(self) -> DockerDeployment:
        with self._lock:
            old = tuple(app.name for app in self.web)
        self._start_dynos(self._new_dynos(len(old)))
        with self._lock:
            self.retiring |= set(old)
        return DockerDeployment(old=old)

    def retire(self, deployment: object) -> None:
        assert isinstance(deployment, DockerDeployment)
        with self._lock:
            leaving = [app for app in self.web if app.name in deployment.old]
            self.web = [app for app in self.web if app.name not in deployment.old]
            self.retiring -= set(deployment.old)
        for app in leaving:
            self._stop_app(app)

    def start_extra(self, extra: Extra) -> None:
        """Start ``extra.count`` one-off containers of a group at once, as dynos start; they end on their own."""
        with self._lock:
            first = len(self.oneoffs) + 1
            self.oneoffs += [_App(name=f"{extra.group}#{first + n}", container=None) for n in range(extra.count)]
            apps = self.oneoffs[-extra.count:]
        settings = oneoff_settings(self.plan, self.endpoints, group=extra.group, hold_s=extra.hold_s,
                                   connections=extra.connections)

        def start(app: _App) -> None:
            app.container = self._run_app(app.name, "oneoff", settings)

        with ThreadPoolExecutor(max_workers=min(ONEOFF_STARTERS, len(apps)) or 1) as pool:
            for started in [pool.submit(start, app) for app in apps]:
                started.result()



def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as reply:  # noqa: S310 - loopback only
            return int(reply.status) == 200
    except (OSError, urllib.error.URLError):
        return False

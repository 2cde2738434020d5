"""The local stack: real Postgres, Valkey and app processes on 127.0.0.1, started in parallel.

``LocalStack(plan, run_dir)`` is a context manager. ``up()`` starts Postgres,
Valkey and the web dynos at once (web servers connect lazily, so they need
neither server to boot), then the job workers as soon as Valkey answers. A
fork-unsafe tier connects in its master at boot, so it waits for Postgres. A
failure while starting stops whatever had started. ``down()`` always ends every
process group, also after a crash of one part.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from harness.ground.process import Service
from harness.plan import Extra, Plan
from harness.stack.apps import Endpoints, oneoff_service, web_service, worker_service
from harness.stack.base import ServerFaces
from harness.stack.postgres import PostgresServer
from harness.stack.redis import RedisServer

T = TypeVar("T")
#: One-off processes a burst starts at once (each start is a fork and an exec; more threads only queue on 2 cores).
ONEOFF_STARTERS = 8


@dataclass(frozen=True)
class LocalDeployment:
    """The dynos a preboot deploy replaced: they keep running, without traffic, until retired."""

    old: tuple[Service, ...]


class LocalStack(ServerFaces):
    """The ``Stack`` (``harness.stack.base``) as local processes."""

    backend = "local"
    postgres_log_is_live = True

    def __init__(self, plan: Plan, run_dir: Path) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.postgres: PostgresServer = PostgresServer(
            run_dir=run_dir, max_connections=plan.postgres.max_connections,
            superuser_reserved_connections=plan.postgres.superuser_reserved_connections, ssl=plan.postgres.ssl,
        )
        self.redis: RedisServer = RedisServer(run_dir=run_dir, maxclients=plan.redis.maxclients)
        self.endpoints = Endpoints(database_url=self.postgres.app_url, redis_url=self.redis.url)
        self.web: list[tuple[Service, str]] = []
        self.retiring: list[Service] = []
        self._next_dyno = 1
        self.workers: list[Service] = []
        self.oneoffs: list[Service] = []
        self.startup_s: dict[str, float] = {}
        self.up_s: float | None = None
        self.versions: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- start --------------------------------------------------------------------------------

    def _timed(self, name: str, start: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            began = time.monotonic()
            result = start()
            with self._lock:
                self.startup_s[name] = round(time.monotonic() - began, 3)
            return result
        return run

    def _new_dynos(self, count: int) -> list[int]:
        """Fresh dyno numbers: a dyno's group name (web.N) is never reused within a run."""
        with self._lock:
            numbers = list(range(self._next_dyno, self._next_dyno + count))
            self._next_dyno += count
        return numbers

    def _start_dyno(self, dyno: int) -> tuple[Service, str]:
        service, base = web_service(self.plan, self.endpoints, dyno=dyno, run_dir=self.run_dir)
        with self._lock:
            self.web.append((service, base))
            self.web.sort(key=lambda item: int(item[0].name.split(".")[1]))
        service.start()
        return service, base

    def _start_dynos(self, numbers: list[int]) -> None:
        with ThreadPoolExecutor(max_workers=max(1, len(numbers)), thread_name_prefix="dynos") as pool:
            futures = [pool.submit(self._timed(f"web.{d}", partial(self._start_dyno, d))) for d in numbers]
            for future in futures:
                future.result()

    def _start_worker(self, process: int) -> Service:
        service = worker_service(self.plan, self.endpoints, process=process, run_dir=self.run_dir)
        with self._lock:
            self.workers.append(service)
        service.start()
        return service

    def up(self) -> None:
        """Start every server of the plan; on any failure, stop them all and re-raise."""
        began = time.monotonic()
        dynos = self._new_dynos(self.plan.web.dynos)
        workers = range(1, self.plan.worker.processes + 1) if self.plan.worker else range(0)
        pool_size = 2 + len(dynos) + len(workers)
        try:
            with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="stack-up") as pool:
                postgres = pool.submit(self._timed("postgres", self.postgres.start))
                redis = pool.submit(self._timed("redis", self.redis.start))
                futures: list[Future[Any]] = [postgres, redis]
                if self.plan.web.fork_safety == "unsafe":
                    postgres.result()  # the master connects at boot, before it forks
                futures += [pool.submit(self._timed(f"web.{d}", partial(self._start_dyno, d))) for d in dynos]
                redis.result()  # workers need Redis to boot
                if self.plan.worker is not None and self.plan.worker.fork_safety == "unsafe":
                    postgres.result()
                futures += [pool.submit(self._timed(f"worker.{w}", partial(self._start_worker, w)))
                            for w in workers]
                for future in futures:
                    future.result()
        except BaseException:
            self.down()
            raise
        self._up_done(began, self.web_targets)

    # -- change while running -----------------------------------------------------------------

    @property
    def web_targets(self) -> list[str]:
        """The dynos the router sends traffic to: alive and not being retired by a deploy."""
        with self._lock:
            return [base for service, base in self.web
                    if service.alive() and not service.stopping and service not in self.retiring]

    def scale_web(self, dynos: int) -> None:
        """Start more dynos (in parallel), or stop the highest-numbered ones."""
        current = len(self.web)
        if dynos > current:
            self._start_dynos(self._new_dynos(dynos - current))
        elif dynos < current:
            with self._lock:
                leaving = self.web[dynos:]
                self.web = self.web[:dynos]
            for service, _ in leaving:
                service.stop()

    @property
    def web_dynos(self) -> int:
        with self._lock:
            return len(self.web)

    def deploy(self) -> LocalDeployment:
        """Preboot: start as many new dynos as run now; the old ones stop taking traffic but keep running."""
        with self._lock:
            old = [service for service, _ in self.web]
        self._start_dynos(self._new_dynos(len(old)))
        with self._lock:
            self.retiring += old
        return LocalDeployment(old=tuple(old))

    def retire(self, deployment: object) -> None:
        """Stop the dynos a deploy replaced."""
        assert isinstance(deployment, LocalDeployment)
        old = deployment.old
        with self._lock:
            self.web = [(s, base) for s, base in self.web if s not in old]
            self.retiring = [s for s in self.retiring if s not in old]
        for service in old:
            service.stop()


    def start_extra(self, extra: Extra) -> None:
        """Start ``extra.count`` one-off processes of a group at once, as dynos start; they end on their own."""
        with self._lock:
            first = len(self.oneoffs) + 1
            services = [oneoff_service(self.plan, self.endpoints, group=extra.group, index=first + n,
                                       hold_s=extra.hold_s, connections=extra.connections, run_dir=self.run_dir)
                        for n in range(extra.count)]
            self.oneoffs += services
        with ThreadPoolExecutor(max_workers=min(ONEOFF_STARTERS, len(services)) or 1,
                                thread_name_prefix="oneoffs") as pool:
            for started in [pool.submit(service.start) for service in services]:
                started.result()

    def check_alive(self) -> None:
        """Raise ``ComponentDied`` when a long-running server exited on its own."""
        assert self.postgres.service is not None and self.redis.service is not None
        with self._lock:
            services = [self.postgres.service, self.redis.service, *(s for s, _ in self.web), *self.workers]
        for service in services:
            service.check_alive()

    # -- stop ---------------------------------------------------------------------------------

    def down(self) -> None:
        """Stop every process: apps first (they hold connections), then the servers, in parallel."""
        with self._lock:
            apps = [s for s, _ in self.web] + self.workers + self.oneoffs
        with ThreadPoolExecutor(max_workers=max(1, len(apps)), thread_name_prefix="stack-down") as pool:
            list(pool.map(lambda s: s.stop(), apps))
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="stack-down") as pool:
            list(pool.map(lambda stop: stop(), [self.postgres.stop, self.redis.stop]))

    def __enter__(self) -> LocalStack:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

"""The one Stack: the plan's servers and app parts on any backend, their bookkeeping written once.

``Stack(plan, run_dir, launcher=..., resources=...)`` is what ``run``, ``events`` and the live view see: bring
it up, tell the load where the live dynos are, change the web tier (scale, a preboot deploy), start one-offs,
inject a server's fault, and always take it down. What differs per backend is the ``Launcher``
(``harness.stack.launcher``: local processes, docker containers); the servers are the resources' own
(``harness.resources.base.Resource.server``, given the launcher's ``Place``). The stack imports no resource
package and no collector: the ``Resource`` entries come from its caller (``harness.stack.backends``' caller).

Start order, on every backend:

1. the launcher opens (the docker engine and the app image);
2. every server and every web dyno at once (web servers connect lazily, so they need no server to boot),
   except that a tier waits for each server its processes need at boot (``Resource.needed_at_boot``: a worker needs its
   queue's server; a fork-unsafe tier's master connects to the database before it forks);
3. the job workers, once the servers they need answer.

A failure while starting stops whatever had started. ``down()`` stops the app parts first (their
disconnections must reach the servers' logs), in parallel, then the servers, in parallel, then closes the
launcher; a second call does nothing.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from harness.ground.process import free_port
from harness.plan import Extra, Plan
from harness.resources.base import Resource, Server
from harness.stack.apps import AppPart, Endpoints, oneoff_part, web_part, worker_part
from harness.stack.launcher import Handle, Launcher

__all__ = ["Deployment", "Stack"]

T = TypeVar("T")
#: One-off parts a burst starts at once (each start is a fork and an exec, or an engine's create; more threads
#: only queue on 2 cores).
ONEOFF_STARTERS = 8
VERSIONS_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Deployment:
    """The dynos a preboot deploy replaced: they keep running, without traffic, until retired."""

    old: tuple[str, ...]


@dataclass(kw_only=True)
class _Dyno:
    number: int
    handle: Handle
    base: str


class Stack:
    """The plan's stack on one backend (module docstring)."""

    def __init__(self, plan: Plan, run_dir: Path, *, launcher: Launcher, resources: Mapping[str, Resource]) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.launcher = launcher
        self.backend = launcher.backend
        self.resources = {name: resources[name] for name in plan.limits}
        self.servers: dict[str, Server] = {}
        self.endpoints = Endpoints(variables={})
        self.web: list[_Dyno] = []
        self.retiring: set[str] = set()
        self.workers: list[Handle] = []
        self.oneoffs: list[Handle] = []
        self._next_dyno = 1
        self.startup_s: dict[str, float] = {}
        self.up_s: float | None = None
        #: what runs, as the stack reported it once up (``harness.versions``); empty before
        self.versions: dict[str, str] = {}
        self._lock = threading.Lock()
        self._down = False

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

    def _start_dyno(self, number: int) -> None:
        port = free_port()
        handle = self.launcher.create(web_part(self.plan, self.endpoints, dyno=number, port=port))
        with self._lock:
            self.web.append(_Dyno(number=number, handle=handle, base=f"http://127.0.0.1:{port}"))
            self.web.sort(key=lambda dyno: dyno.number)
        self.launcher.start(handle)

    def _start_dynos(self, numbers: Sequence[int]) -> None:
        with ThreadPoolExecutor(max_workers=max(1, len(numbers)), thread_name_prefix="dynos") as pool:
            for future in [pool.submit(self._timed(f"web.{n}", partial(self._start_dyno, n))) for n in numbers]:
                future.result()

    def _start_part(self, part: AppPart, into: list[Handle]) -> None:
        handle = self.launcher.create(part)
        with self._lock:
            into.append(handle)
        self.launcher.start(handle)

    def up(self) -> None:
        """Start every server and app part of the plan (module docstring); on any failure stop them all and
        re-raise."""
        began = time.monotonic()
        try:
            place = self.launcher.open()
            self.startup_s.update(self.launcher.startup_s)
            self.servers = {name: entry.server(self.plan.limits[name], place) for name, entry in self.resources.items()}
            self.endpoints = Endpoints(variables={entry.url_variable: self.servers[name].url
                                                  for name, entry in self.resources.items()})
            dynos = self._new_dynos(self.plan.web.dynos)
            workers = range(1, self.plan.worker.processes + 1) if self.plan.worker else range(0)
            with ThreadPoolExecutor(max_workers=len(self.servers) + len(dynos) + len(workers),
                                    thread_name_prefix="stack-up") as pool:
                servers: dict[str, Future[None]] = {
                    name: pool.submit(self._timed(name, server.start)) for name, server in self.servers.items()}
                futures: list[Future[Any]] = list(servers.values())
                self._wait_for(servers, "web")
                futures += [pool.submit(self._timed(f"web.{d}", partial(self._start_dyno, d))) for d in dynos]
                self._wait_for(servers, "worker")
                futures += [pool.submit(self._timed(f"worker.{w}", partial(
                    self._start_part, worker_part(self.plan, self.endpoints, process=w), self.workers)))
                    for w in workers]
                for future in futures:
                    future.result()
        except BaseException:
            self.down()
            raise
        self.up_s = round(time.monotonic() - began, 3)
        self.versions = self._read_versions()

    def _wait_for(self, servers: Mapping[str, Future[None]], tier: str) -> None:
        """Wait for the servers ``tier``'s processes need at boot (``Resource.needed_at_boot``)."""
        for name, started in servers.items():
            if self.resources[name].needed_at_boot(self.plan, tier):
                started.result()

    def _read_versions(self) -> dict[str, str]:
        """The app's answer on its first live dyno (``GET /versions``), and each server's own."""
        found: dict[str, str] = {}
        targets = self.web_targets
        if targets:
            with contextlib.suppress(OSError, ValueError), \
                    urllib.request.urlopen(f"{targets[0]}/versions", timeout=VERSIONS_TIMEOUT_S) as reply:  # noqa: S310
                app = json.loads(reply.read())
                if isinstance(app, dict):
                    found.update({str(k): str(v) for k, v in app.items()})
        for server in self.servers.values():
            found.update(server.versions())
        return found

    # -- change while running -----------------------------------------------------------------

    @property
    def web_targets(self) -> list[str]:
        """Base URLs of the dynos the router sends traffic to: serving and not being retired by a deploy."""
        with self._lock:
            return [dyno.base for dyno in self.web
                    if dyno.handle.name not in self.retiring and self.launcher.serving(dyno.handle)]

    @property
    def web_dynos(self) -> int:
        """Dynos running now, retiring ones included."""
        with self._lock:
            return len(self.web)

    def scale_web(self, dynos: int) -> None:
        """Start more dynos (in parallel), or stop the highest-numbered ones."""
        current = self.web_dynos
        if dynos > current:
            self._start_dynos(self._new_dynos(dynos - current))
        elif dynos < current:
            with self._lock:
                leaving, self.web = self.web[dynos:], self.web[:dynos]
            self._stop_all([dyno.handle for dyno in leaving])

    def deploy(self) -> Deployment:
        """Preboot: start as many new dynos as run now; the old ones stop taking traffic but keep running."""
        with self._lock:
            old = tuple(dyno.handle.name for dyno in self.web)
        self._start_dynos(self._new_dynos(len(old)))
        with self._lock:
            self.retiring |= set(old)
        return Deployment(old=old)

    def retire(self, deployment: Deployment) -> None:
        """Stop the dynos a deploy replaced."""
        with self._lock:
            leaving = [dyno.handle for dyno in self.web if dyno.handle.name in deployment.old]
            self.web = [dyno for dyno in self.web if dyno.handle.name not in deployment.old]
            self.retiring -= set(deployment.old)
        self._stop_all(leaving)

    def start_extra(self, extra: Extra) -> None:
        """Start ``extra.count`` one-off parts of a group at once, as dynos start; they end on their own."""
        with self._lock:
            first = len(self.oneoffs) + 1
            handles = [self.launcher.create(oneoff_part(self.plan, self.endpoints, group=extra.group, index=first + n,
                                                        hold_s=extra.hold_s, connections=extra.connections))
                       for n in range(extra.count)]
            self.oneoffs += handles
        with ThreadPoolExecutor(max_workers=min(ONEOFF_STARTERS, len(handles)) or 1,
                                thread_name_prefix="oneoffs") as pool:
            for started in [pool.submit(self.launcher.start, handle) for handle in handles]:
                started.result()

    def fault(self, server: str, run: Callable[[Any, str], str], group: str) -> str:
        """Run a server's fault (``harness.resources.base.Fault.run``) on the running server named ``server``."""
        return run(self.servers[server], group)

    def check_alive(self) -> None:
        """Raise ``ComponentDied`` when a server or a long-running app part exited on its own."""
        for server in self.servers.values():
            server.check_alive()
        with self._lock:
            parts = [dyno.handle for dyno in self.web if dyno.handle.name not in self.retiring] + self.workers
        for handle in parts:
            self.launcher.check(handle)

    # -- stop ---------------------------------------------------------------------------------

    def _stop_all(self, handles: Sequence[Handle]) -> None:
        with ThreadPoolExecutor(max_workers=max(1, len(handles)), thread_name_prefix="stack-down") as pool:
            list(pool.map(self.launcher.stop, handles))

    def down(self) -> None:
        """Stop everything, apps first (their disconnections must reach the servers' logs), then the servers,
        then what the backend made for the run. A failed ``up`` has already called it and the run's own teardown
        calls it again: a second call after a whole one does nothing."""
        if self._down:
            return
        with self._lock:
            apps = [dyno.handle for dyno in self.web] + self.workers + self.oneoffs
        self._stop_all(apps)
        servers = list(self.servers.values())
        with ThreadPoolExecutor(max_workers=max(1, len(servers)), thread_name_prefix="stack-down") as pool:
            list(pool.map(lambda server: server.stop(), servers))
        self.launcher.close()
        self._down = True

    def __enter__(self) -> Stack:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

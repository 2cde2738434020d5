"""connlab's traffic: Locust users hitting the dynos the harness started, stage by stage.

Run by ``harness.load`` in a process of its own (gevent patches everything it
touches, so it must not run inside the harness). Reads ``CONNLAB_LOAD`` (a JSON
file the harness writes): the stages, the query time, the share of requests
that enqueue jobs and of those that read the cache (``/cache``, holding a Redis
connection ``redis_ms``; the rest are ``/db``), the file listing the live dynos
(rewritten by the harness when the autoscaler adds or stops dynos) and where to
write the tally.

Each user is a client in a closed loop: request, answer, next request. A
request goes to a dyno picked at random, on a new connection, as a router would. Failures are
tallied by the class the app names in ``X-Connlab-Error``.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
from locust import HttpUser, LoadTestShape, constant, events, task

CONFIG: dict[str, Any] = json.loads(Path(os.environ["CONNLAB_LOAD"]).read_text())
TARGETS_FILE = Path(CONFIG["targets_file"])
TARGETS_REREAD_S = 0.2
FAILURE_PAUSE_S = 0.1
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
READY_LINE = "connlab-load-started"
GO_POLL_S = 0.01


def _wait_for_go() -> None:
    """Launched while the stack comes up (``harness.load.LoadRun.launch``): wait here, Locust imported, until the
    harness writes the go file; leave if the harness is gone."""
    go = CONFIG.get("go_file")
    while go and not Path(go).exists():
        if os.getppid() != CONFIG["harness_pid"]:
            raise SystemExit("connlab: the harness that launched this load is gone")
        time.sleep(GO_POLL_S)


_wait_for_go()


class Targets:
    """The dynos to route to, re-read from the harness's file when it changes."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.mtime_ns = -1
        self.checked = 0.0

    def current(self) -> list[str]:
        now = time.monotonic()
        if now - self.checked >= TARGETS_REREAD_S or not self.urls:
            self.checked = now
            mtime = TARGETS_FILE.stat().st_mtime_ns
            if mtime != self.mtime_ns:
                urls = json.loads(TARGETS_FILE.read_text())
                for url in urls:
                    if urlsplit(url).hostname not in LOOPBACK:
                        raise SystemExit(f"connlab: refusing to send load to {url}: not on loopback")
                self.mtime_ns, self.urls = mtime, urls
        return self.urls


TARGETS = Targets()


class Tally:
    """Requests and failures by class, with when each class was first seen."""

    def __init__(self) -> None:
        self.started = time.time()
        self.total = 0
        self.failed = 0
        self.errors: Counter[tuple[str, str]] = Counter()
        self.first_s: dict[tuple[str, str], float] = {}
        self.per_second: Counter[int] = Counter()
        # per whole second of traffic: requests by (endpoint, class, message), and every latency (ms)
        self.requests: Counter[tuple[int, str, str | None, str]] = Counter()
        self.latencies: dict[int, list[float]] = {}

    def add(self, error_class: str | None, message: str, *, endpoint: str = "", ms: float = 0.0) -> None:
        self.total += 1
        elapsed = time.time() - self.started
        second = int(elapsed) if elapsed >= 0 else -1
        self.latencies.setdefault(second, []).append(ms)
        if error_class is None:
            self.requests[(second, endpoint, None, "")] += 1
            return
        self.failed += 1
        # numbers vary from one failure to the next (waited 1.002 s, ports): fold them
        key = (error_class, re.sub(r"\d+(\.\d+)?", "N", message)[:200])
        self.errors[key] += 1
        self.requests[(second, endpoint, key[0], key[1])] += 1
        self.first_s.setdefault(key, round(elapsed, 3))
        self.per_second[int(elapsed)] += 1

    @staticmethod
    def _rank(ordered: list[float], share: float) -> float:
        """The nearest-rank percentile of an ordered list."""
        return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 1)

    def latency(self) -> list[dict[str, float]]:
        rows = []
        for second, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            rows.append({"second": second, "requests": len(ordered), "p50_ms": self._rank(ordered, 0.50),
                         "p95_ms": self._rank(ordered, 0.95), "p99_ms": self._rank(ordered, 0.99),
                         "max_ms": round(ordered[-1], 1)})
        return rows

    def write(self) -> None:
        out = {
            "started_epoch_s": self.started,
            "total": self.total,
            "failed": self.failed,
            "errors": [
                {"class": cls, "message": msg, "count": n, "first_s": self.first_s.get((cls, msg))}
                for (cls, msg), n in self.errors.most_common()
            ],
            "failures_per_second": dict(sorted(self.per_second.items())),
            "requests": [{"second": sec, "endpoint": ep, "class": cls, "message": msg, "count": n}
                         for (sec, ep, cls, msg), n in sorted(self.requests.items(), key=_request_order)],
            "latency": self.latency(),
        }
        Path(CONFIG["out"]).write_text(json.dumps(out, indent=2))


def _request_order(item: tuple[tuple[int, str, str | None, str], int]) -> tuple[int, str, str, str]:
    (second, endpoint, error_class, message), _ = item
    return second, endpoint, error_class or "", message


TALLY = Tally()


@events.test_start.add_listener
def _on_start(**_: Any) -> None:
    TALLY.started = time.time()
    gevent.spawn(_write_live)
    print(READY_LINE, flush=True)
    sys.stdout.flush()


#: How often the running totals go to ``<out>.live`` for the harness's live view.
LIVE_EVERY_S = 0.5


def _write_live() -> None:
    """Requests and failures so far, rewritten (write, then rename) every ``LIVE_EVERY_S``."""
    live = Path(CONFIG["out"] + ".live")
    while True:
        staging = live.with_suffix(".tmp")
        staging.write_text(json.dumps({"total": TALLY.total, "failed": TALLY.failed}))
        os.replace(staging, live)
        gevent.sleep(LIVE_EVERY_S)


@events.quitting.add_listener
def _on_quit(**_: Any) -> None:
    TALLY.write()


class AppUser(HttpUser):
    """One client in a closed loop against a random dyno."""

    wait_time = constant(0)
    host = json.loads(TARGETS_FILE.read_text())[0]

    def on_start(self) -> None:
        # A new TCP connection per request, as a router spreads them: a kept-alive socket would tie
        # this user to one worker process, and one-thread processes could sit idle all run.
        self.client.headers["Connection"] = "close"

    @task
    def request(self) -> None:
        base = random.choice(TARGETS.current())
        began = time.monotonic()
        pick = random.random()
        if pick < CONFIG["enqueue_share"]:
            path, name = f"/enqueue?ms={CONFIG['job_ms']}&n={CONFIG['jobs_per_enqueue']}", "/enqueue"
            if CONFIG.get("job_redis_ms", 0):
                path += f"&cache_ms={CONFIG['job_redis_ms']}"
        elif pick < CONFIG["enqueue_share"] + CONFIG.get("cache_share", 0.0):
            path, name = f"/cache?ms={CONFIG.get('redis_ms', 100)}", "/cache"
        else:
            path, name = f"/db?ms={CONFIG['query_ms']}", "/db"
            if CONFIG.get("work_ms", 0):
                # the mean: each request's work is drawn from 0 .. 2 x work_ms, as real rendering varies. With one
                # fixed duration, users spawned in the same instant (Locust spawns spawn_rate users at a time)
                # would stay in step for the whole run and run every query together.
                path += f"&work_ms={round(random.uniform(0, 2 * CONFIG['work_ms']))}"
        try:
            with self.client.get(base + path, name=name, timeout=60, catch_response=True) as response:
                if response.status_code == 200:
                    response.success()
                    TALLY.add(None, "", endpoint=name, ms=(time.monotonic() - began) * 1000)
                    return
                if response.status_code == 0:  # no answer: refused, reset, timed out
                    error_class = f"client.{type(response.error).__name__}"
                    message = str(response.error).splitlines()[0][:200] if response.error else ""
                else:
                    error_class = response.headers.get("X-Connlab-Error") or f"HTTP {response.status_code}"
                    message = response.headers.get("X-Connlab-Error-Message", "")
                response.failure(f"{error_class}: {message}")
        except Exception as exc:  # noqa: BLE001 - a dyno stopped mid-request is a failure users see
            error_class, message = f"client.{type(exc).__name__}", str(exc).splitlines()[0][:200]
        TALLY.add(error_class, message, endpoint=name, ms=(time.monotonic() - began) * 1000)
        gevent.sleep(FAILURE_PAUSE_S)


if not CONFIG.get("web"):  # with Locust's web UI a person drives the ramp: no shape then

    class Stages(LoadTestShape):
        """The plan's stages, one after another; None (stop) after the last."""

        stages = CONFIG["stages"]

        def tick(self) -> tuple[int, float] | None:
            elapsed = self.get_run_time()
            for stage in self.stages:
                if elapsed < stage["duration_s"]:
                    return stage["users"], stage["spawn_rate"]
                elapsed -= stage["duration_s"]
            return None

"""Load: Locust, headless, in a process of its own, driven by the plan's stages.

``LoadRun`` writes the load config and the targets file, starts Locust in its
own process group (gevent must not patch the harness), waits for the test to
start, lets the harness rewrite the targets when dynos come and go, and reads
the tally the locustfile writes when it quits.

``launch`` starts the Locust process while the stack is still coming up: it
imports Locust and gevent (0.7 s of a run otherwise) and waits for the go file
before its test begins. ``start`` writes the go file and waits for the test's
first line. A Locust launched and never started ends with ``stop``, or on its
own when the harness that launched it is gone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness.assets import LOCUSTFILE
from harness.errors import LoadError_
from harness.ground.process import forget_group, kill_group, register_group, tail
from harness.observation import ErrorTally, LatencySecond, LoadResult, RequestCount
from harness.plan import Plan

START_TIMEOUT_S = 30.0
#: With Locust's web UI, how long to wait for a person to press Start.
WEB_START_TIMEOUT_S = 600.0
#: With the web UI, how long after the plan's duration the harness stops Locust (its users stop at the duration).
WEB_END_S = 1.0
READY_LINE = "connlab-load-started"
STOP_GRACE_S = 10.0


class LoadRun:
    def __init__(self, plan: Plan, run_dir: Path, targets: list[str], *, web_port: int | None = None) -> None:
        self.plan = plan
        self.run_dir = run_dir.resolve()  # Locust runs in it: every path it is given must be absolute
        self.targets_file = self.run_dir / "targets.json"
        self.tally_file = self.run_dir / "load.json"
        self.go_file = self.run_dir / "load-go"
        self.live_file = self.run_dir / "load.json.live"  # running totals, rewritten by the Locust process
        self.log_path = self.run_dir / "locust.log"
        #: Locust's own web UI on 127.0.0.1:web_port, where a person starts the test and drives the ramp; the run
        #: lasts the plan's duration from the moment they press Start
        self.web_port = web_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_epoch_s: float | None = None
        self._stopped = False
        self.set_targets(targets)

    def set_targets(self, targets: list[str]) -> None:
        """Tell the running users which dynos exist (atomically: write then rename)."""
        staging = self.targets_file.with_suffix(".tmp")
        staging.write_text(json.dumps(targets))
        os.replace(staging, self.targets_file)

    def launch(self) -> None:
        """Start the Locust process, which waits for ``start`` before its test begins (module docstring)."""
        if self.proc is not None:
            return
        traffic = self.plan.traffic
        config = {
            "stages": [{"duration_s": s.duration_s, "users": s.users, "spawn_rate": s.spawn_rate}
                       for s in traffic.stages],
            "query_ms": traffic.query_ms,
            "enqueue_share": traffic.enqueue_share,
            "job_ms": traffic.job_ms,
            "jobs_per_enqueue": traffic.jobs_per_enqueue,
            "cache_share": traffic.cache_share,
            "redis_ms": traffic.redis_ms,
            "job_redis_ms": traffic.job_redis_ms,
            "work_ms": traffic.work_ms,
            "targets_file": str(self.targets_file),
            "out": str(self.tally_file),
            "web": self.web_port is not None,
            "go_file": str(self.go_file),
            "harness_pid": os.getpid(),
        }
        config_path = self.run_dir / "load-config.json"
        config_path.write_text(json.dumps(config, indent=2))
        argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE),
                "--csv", str(self.run_dir / "locust"), "--loglevel", "WARNING",
                "--exit-code-on-error", "0", "--only-summary"]
        if self.web_port is None:
            argv.append("--headless")
        else:
            # --run-time stops the users at the plan's duration; Locust (and its UI) stays up until stop()
            argv += ["--web-host", "127.0.0.1", "--web-port", str(self.web_port),
                     "--run-time", f"{traffic.duration_s:g}s"]
        env = {**os.environ, "CONNLAB_LOAD": str(config_path)}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True, cwd=self.run_dir)
        register_group(self.proc.pid, "locust")

    def start(self) -> float:
        """Start the test (launching Locust first when ``launch`` was not called); return the wall-clock time it
        started."""
        self.launch()
        assert self.proc is not None
        self.go_file.write_text("go\n")
        wait_s = START_TIMEOUT_S if self.web_port is None else WEB_START_TIMEOUT_S
        deadline = time.monotonic() + wait_s
        while READY_LINE not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None:
                raise LoadError_(f"locust exited with status {self.proc.returncode} before the test started; "
                                 f"last lines: {' | '.join(tail(self.log_path, 5))}")
            if time.monotonic() > deadline:
                self.stop()
                raise LoadError_(f"locust did not start its test within {wait_s:.0f} s; "
                                 f"last lines: {' | '.join(tail(self.log_path, 5))}")
            time.sleep(0.05)
        self.started_epoch_s = time.time()
        return self.started_epoch_s

    def finished(self) -> bool:
        if self.proc is not None and self.web_port is not None and self.started_epoch_s is not None:
            # the web UI keeps Locust up after its test: the traffic is over once the plan's duration has passed
            return self.proc.poll() is not None or \
                time.time() - self.started_epoch_s >= self.plan.traffic.duration_s + WEB_END_S
        return self.proc is not None and self.proc.poll() is not None

    def wait(self, timeout_s: float) -> None:
        assert self.proc is not None
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise LoadError_(f"locust did not finish within {timeout_s:.0f} s of its planned end") from None

    def stop(self) -> None:
        if self.proc is None or self._stopped:
            return
        self._stopped = True
        kill_group(self.proc.pid, grace_s=STOP_GRACE_S)
        self.proc.wait()
        forget_group(self.proc.pid)

    def result(self) -> LoadResult:
        try:
            data = json.loads(self.tally_file.read_text())
        except (OSError, ValueError):
            raise LoadError_(f"locust wrote no tally ({self.tally_file}); last lines: "
                             f"{' | '.join(tail(self.log_path, 5))}") from None
        return LoadResult(
            total=int(data["total"]),
            failed=int(data["failed"]),
            errors=tuple(ErrorTally(error_class=e["class"], message=e["message"], count=int(e["count"]),
                                    first_s=e["first_s"]) for e in data["errors"]),
            failures_per_second={int(k): int(v) for k, v in data["failures_per_second"].items()},
            requests=tuple(RequestCount(second=int(r["second"]), endpoint=str(r["endpoint"]), error_class=r["class"],
                                        message=str(r["message"]), count=int(r["count"]))
                           for r in data.get("requests", [])),
            latency=tuple(LatencySecond(second=int(r["second"]), requests=int(r["requests"]),
                                        p50_ms=float(r["p50_ms"]), p95_ms=float(r["p95_ms"]),
                                        p99_ms=float(r["p99_ms"]), max_ms=float(r["max_ms"]))
                          for r in data.get("latency", [])),
        )

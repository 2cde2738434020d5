"""bin/worker with CONNLAB_JOBS=rq: a supervisor and CONNLAB_CONCURRENCY forking RQ workers.

An RQ worker runs one job at a time: it pops a job off the queue, forks a
*work horse* that runs it, waits for the horse to exit, and loops. It has no
threads, so CONNLAB_CONCURRENCY jobs in parallel take CONNLAB_CONCURRENCY
worker processes. The process the harness started is a small supervisor that
forks them, as ``rq worker-pool`` does (its WorkerPool is not used: it starts
a scheduler process per worker, waits for busy workers without a deadline and
has no ready signal)::

    supervisor (the process bin/worker exec'd; no Redis, Postgres only if unsafe)
      +- RQ worker x CONNLAB_CONCURRENCY   (BLPOP on the queue + a pubsub thread)
           +- work horse, one per job        (runs jobs.hold, then os._exit)

Fork safety. The supervisor builds the engine before it forks anything
(``fork.build_before_fork``), so a horse does not spend ~0.1 s building one
per job. Safe (default): the supervisor opens no connection and only horses
touch Postgres; each horse first empties its copy of the pool
(``fork.after_fork``: ``engine.dispose(close=False)``), opens its own
connection and closes it before it exits. Unsafe: the supervisor also opens a
connection, and every horse of every worker checks that inherited connection
out of its inherited pool: horses of different workers use it at the same
time, and since whatever a horse changes dies with it, each new horse starts
again from its parent's stale copy of the session (its TLS sequence numbers,
its idea that the server is still there).

Process group. RQ moves each horse into a process group of its own; the horse
moves back into the harness's group (the contract: every child stays in it),
so a SIGTERM to the group reaches the horses too, and ``kill_horse`` signals
the horse alone. On SIGTERM a worker kills its horse (the job fails) and
exits; the supervisor SIGKILLs any worker still alive after SHUTDOWN_S.

Readiness. Each worker writes a byte to a pipe once it has registered with RQ
and listens on the queue; the supervisor prints ``connlab-ready`` once all of
them have.

Redis. Every connection (worker, pubsub thread, horse) comes from a pool whose
``client_name`` is CONNLAB_GROUP; RQ's own ``CLIENT SETNAME <worker name>`` is
skipped so the name stays.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
import traceback
from types import FrameType, TracebackType
from typing import Any, NoReturn

import redis
from rq import Queue, Worker
from rq.executions import Execution
from rq.job import Job

from connlab_twin import broker, config, errors, fork, rq_jobs

#: Seconds the supervisor gives its workers after SIGTERM before SIGKILL.
SHUTDOWN_S = 2.0
#: Seconds before a worker that exited on its own is replaced.
_RESPAWN_S = 1.0
#: Seconds between PINGs while Redis does not answer at boot.
_PING_RETRY_S = 0.5
#: Seconds the supervisor's loop sleeps between looks at its children.
_TICK_S = 0.2
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _say(line: str) -> None:
    """One line on file descriptor 2: unbuffered, so it survives ``os._exit``."""
    os.write(2, f"{line}\n".encode(errors="replace"))


def report_failure(
    job: Job,
    exc_type: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
) -> bool:
    """RQ exception handler (in the horse): one ``connlab-job-failed`` line per failed job.

    RQ has already logged the traceback; this line carries the class and first
    message line exactly as the web's X-Connlab-Error headers would.
    """
    _say(f"connlab-job-failed pid={os.getpid()} job={job.id} {errors.class_name(exc)}: {errors.first_line(exc)}")
    return True


class ConnlabWorker(Worker):
    """A forking ``rq.Worker`` fitted to the contract (see the module docstring)."""

    #: Write end of the supervisor's readiness pipe; closed once written to.
    ready_fd: int | None = None
    #: CONNLAB_FORK_SAFETY == "safe": horses drop inherited pools.
    fork_safe: bool = True
    #: This worker's process group (the harness's), for its horses to rejoin.
    group_id: int = 0

    def _set_ip_address(self, connection: redis.Redis) -> None:
        # RQ's version first sends CLIENT SETNAME <worker name>; keep CONNLAB_GROUP.
        try:
            self.ip_address = str(connection.client_info()["addr"])
        except redis.exceptions.ResponseError:
            self.ip_address = "unknown"

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """RQ's bootstrap (register, subscribe), then tell the supervisor we are ready."""
        super().bootstrap(*args, **kwargs)
        self.group_id = os.getpgrp()
        if self.ready_fd is not None:
            os.write(self.ready_fd, b"r")
            os.close(self.ready_fd)
            self.ready_fd = None

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        """The horse: back into the harness's process group, drop inherited pools if safe, run."""
        os.setpgid(0, self.group_id)
        if self.fork_safe:
            fork.after_fork()
        super().main_work_horse(job, queue)

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        """Run the job (in the horse), then close the horse's own pool, if any."""
        try:
            return super().perform_job(job, queue, execution)
        finally:
            fork.close_own()

    def kill_horse(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the horse alone: RQ's signals the horse's group, which is ours now."""
        pid = self.horse_pid
        if pid:
            _signal(pid, sig)

    def handle_warm_shutdown_request(self) -> None:
        """On the first SIGTERM: end the running job now instead of waiting for it."""
        super().handle_warm_shutdown_request()  # type: ignore[no-untyped-call]
        self.kill_horse(signal.SIGTERM)


def _wait_for_redis(client: redis.Redis) -> None:
    while True:
        try:
            if client.ping():
                return
        except redis.RedisError:
            pass
        time.sleep(_PING_RETRY_S)


def _run_worker(settings: config.Worker, ready_fd: int) -> None:
    """One RQ worker process: wait for Redis, register, consume until stopped."""
    pool = broker.worker_pool(settings.redis_url, group=settings.database.group)
    client = redis.Redis(connection_pool=pool)
    _wait_for_redis(client)
    worker = ConnlabWorker([rq_jobs.QUEUE], connection=client, log_job_description=False)
    worker.ready_fd = ready_fd
    worker.fork_safe = settings.database.fork_safety == "safe"
    worker.log_result_lifespan = False
    worker.push_exc_handler(report_failure)  # type: ignore[no-untyped-call]
    # WARNING: no INFO line per job (thousands in a load test); failures still show.
    worker.work(logging_level="WARNING", with_scheduler=False)


def _worker_process(settings: config.Worker, ready_fd: int) -> NoReturn:
    """Body of a forked worker; leaves with ``os._exit``.

    ``os._exit`` skips the supervisor's atexit hooks and the finalizers that
    would close inherited connections: a worker leaves them as it found them.
    """
    code = 1
    try:
        _run_worker(settings, ready_fd)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


class Supervisor:
    """Forks the RQ workers, announces readiness, replaces workers, stops them."""

    def __init__(self, settings: config.Worker) -> None:
        """Nothing is forked yet."""
        self.settings = settings
        self.children: set[int] = set()
        self.read_fd, self.write_fd = os.pipe()
        self.ready = 0
        self.announced = False
        self.stop_at: float | None = None
        self.respawn_at: list[float] = []

    def run(self) -> int:
        """Fork the workers and look after them until stopped; returns the exit status."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for _ in range(self.settings.concurrency):
            if self.stop_at is None:
                self._spawn()
        while self.children or (self.stop_at is None and self.respawn_at):
            self._read_ready()
            self._reap()
            now = time.monotonic()
            if self.stop_at is not None and now >= self.stop_at:
                self._kill_all()
                break
            if self.stop_at is None:
                while self.respawn_at and self.respawn_at[0] <= now:
                    self.respawn_at.pop(0)
                    self._spawn()
        return 0

    def _spawn(self) -> None:
        # Block the stop signals across fork: the child must not run the
        # supervisor's handler before it has put the default ones back.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            os.close(self.read_fd)
            _worker_process(self.settings, self.write_fd)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        self.children.add(pid)

    def _read_ready(self) -> None:
        readable, _, _ = select.select([self.read_fd], [], [], _TICK_S)
        if not readable:
            return
        self.ready += len(os.read(self.read_fd, 64))
        if not self.announced and self.ready >= self.settings.concurrency:
            self.announced = True
            _say(
                f"connlab-ready group={self.settings.database.group} pid={os.getpid()} "
                f"rq_workers={self.settings.concurrency} fork_safety={self.settings.database.fork_safety}"
            )

    def _reap(self) -> None:
        while self.children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            self.children.discard(pid)
            if self.stop_at is None:
                _say(
                    f"connlab_twin: rq worker pid={pid} exited ({_describe(status)}), "
                    f"starting another in {_RESPAWN_S:g}s"
                )
                self.respawn_at.append(time.monotonic() + _RESPAWN_S)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_at is not None:
            return
        self.stop_at = time.monotonic() + SHUTDOWN_S
        for pid in list(self.children):
            _signal(pid, signal.SIGTERM)

    def _kill_all(self) -> None:
        for pid in self.children:
            _signal(pid, signal.SIGKILL)
        for pid in self.children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.children.clear()


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"status {os.waitstatus_to_exitcode(status)}"


def main(settings: config.Worker) -> int:
    """bin/worker's main with CONNLAB_JOBS=rq."""
    fork.build_before_fork(settings.database)
    return Supervisor(settings).run()

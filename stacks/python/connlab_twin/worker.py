"""The job-worker process (bin/worker): dramatiq's CLI with one process.

With CONNLAB_JOBS=rq, ``main()`` hands over to ``connlab_twin.rq_worker``
instead (a supervisor of CONNLAB_CONCURRENCY forking RQ workers); the rest of
this docstring is about dramatiq.

``main()`` runs in the process the harness started. It checks the settings
(exit 2 on a missing variable) and then runs dramatiq's own CLI in place,
which forks ONE worker process with CONNLAB_CONCURRENCY threads. That child
imports ``connlab_twin.worker:boot`` (the CLI's broker argument), which builds
the broker, declares the ``hold`` actor and adds ``Ready``. The master never
touches Redis, nor Postgres unless CONNLAB_FORK_SAFETY=unsafe (see ``main``).
SIGTERM to the process group stops both: the child finishes or abandons its
jobs within ``--worker-shutdown-timeout``.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import dramatiq
import dramatiq.cli
import redis
from dramatiq.broker import Broker
from dramatiq.middleware import Middleware
from dramatiq.worker import Worker

from connlab_twin import broker, config, fork

#: Milliseconds a stopping worker process waits for its job threads, then again for
#: its consumer threads: keeps a graceful stop well inside the harness's 5 s grace.
SHUTDOWN_TIMEOUT_MS = 1500
#: Seconds between PINGs while Redis does not answer at boot.
_PING_RETRY_S = 0.5


class Ready(Middleware):
    """Print ``connlab-ready`` once the worker consumes, as the harness expects.

    ``after_worker_boot`` runs once the consumer and worker threads have
    started. A daemon thread then PINGs Redis until it answers (Redis may be
    full or down at boot: the consumers keep retrying too) and only then
    announces readiness. The PING uses a throwaway connection, closed at once,
    so the broker's pool keeps only what dramatiq itself opens, and named as
    the harness's (``connlab-ready.<group>``): it is the harness's readiness
    probe, not the app's, and the exact Redis replay saw it as a third
    connection of the worker's group when it overlapped the two consumers'. The line goes
    straight to file descriptor 2 because dramatiq redirects the child's
    ``sys.stderr`` into its log pipe.
    """

    def __init__(self, redis_url: str, group: str, concurrency: int) -> None:
        """Remember where to ping and what to print."""
        self.redis_url = redis_url
        self.group = group
        self.concurrency = concurrency

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        """Start the thread that announces readiness."""
        threading.Thread(target=self._announce, name="connlab-ready", daemon=True).start()

    def _ping(self) -> bool:
        client = redis.Redis.from_url(self.redis_url, client_name=f"connlab-ready.{self.group}")
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _announce(self) -> None:
        while not self._ping():
            time.sleep(_PING_RETRY_S)
        line = f"connlab-ready group={self.group} pid={os.getpid()} threads={self.concurrency}\n"
        os.write(2, line.encode())


def boot() -> None:
    """Set up this dramatiq worker process's broker (called by dramatiq's CLI)."""
    settings = config.worker()
    pool = broker.worker_pool(settings.redis_url, group=settings.database.group)
    redis_broker = broker.make_broker(pool)
    broker.declare_hold(redis_broker)
    redis_broker.add_middleware(Ready(settings.redis_url, settings.database.group, settings.concurrency))
    dramatiq.set_broker(redis_broker)


def main() -> int:
    """Check settings, then become dramatiq's master with one worker process.

    With CONNLAB_FORK_SAFETY=unsafe the master first opens a connection (see
    ``connlab_twin.fork``) that the forked worker process inherits and its job
    threads use; with one worker process no other process uses it at the same
    time, so the hazard stays latent.
    """
    settings = config.worker()
    if settings.jobs == "rq":
        from connlab_twin import rq_worker

        return rq_worker.main(settings)
    if settings.database.fork_safety == "unsafe":
        fork.build_before_fork(settings.database)
    argv = [
        "connlab_twin.worker:boot",
        "--processes",
        "1",
        "--threads",
        str(settings.concurrency),
        "--worker-shutdown-timeout",
        str(SHUTDOWN_TIMEOUT_MS),
    ]
    args = dramatiq.cli.make_argument_parser().parse_args(argv)  # type: ignore[no-untyped-call]
    return int(dramatiq.cli.main(args))  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    sys.exit(main())

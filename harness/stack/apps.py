"""The sample apps: where they live, what they need, how each process of theirs starts.

Both apps follow ``stacks/CONTRACT.md``: ``bin/web``, ``bin/worker`` and
``bin/oneoff`` exec the real servers (gunicorn / Puma, dramatiq / Sidekiq),
configured through ``CONNLAB_*`` variables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.assets import APPS_DIR
from harness.errors import MissingDependency
from harness.kinds import django
from harness.kinds.workers import worker_kind
from harness.plan import WEB_SERVERS, Plan
from harness.stack.readiness import HttpOk, LogLine, Strategy

WEB_READY_TIMEOUT_S = 30.0
WORKER_READY_TIMEOUT_S = 30.0
READY_LINE = "connlab-ready"

#: the file in a sample app's folder that says what it needs on the host (``require:``, ``require-unicorn:``,
#: ``packages:`` lines of words)
HOST_NEEDS = "host-needs.txt"


def host_needs(app: str) -> dict[str, tuple[str, ...]]:
    """The sample app's ``host-needs.txt``: each ``key: words`` line as key -> words (empty when it has none)."""
    path = APPS_DIR / app / HOST_NEEDS
    needs: dict[str, tuple[str, ...]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            key, colon, words = line.partition(":")
            if colon and not key.lstrip().startswith("#"):
                needs[key.strip()] = tuple(words.split())
    return needs


_RAILS = host_needs("rails")
RAILS_PACKAGES = _RAILS.get("packages", ())
RAILS_PROBE = "; ".join(f'require "{name}"' for name in _RAILS.get("require", ()))
#: what a plan with ``server: unicorn`` needs beside RAILS_PROBE (Debian's ``unicorn``)
UNICORN_PROBE = "; ".join(f'require "{name}"' for name in _RAILS.get("require-unicorn", ()))


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    """Where the servers of a stack listen; what every app process is told: each server's URL in its variable
    (``harness.resources.base.Resource.url_variable``)."""

    variables: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class AppPart:
    """One app process to start: its name (the group, or ``group#N`` for a one-off), the ``bin/`` command of the
    app contract, its ``CONNLAB_*`` settings, its log file's name in the run folder, and when it is ready."""

    name: str
    command: str
    settings: dict[str, str]
    log_name: str
    ready: Strategy | None = None


def rails_missing(server: str = "") -> str | None:
    """None when Ruby and the gems load (and Unicorn, for ``server="unicorn"``); else what is missing."""
    if shutil.which("ruby") is None:
        return "ruby"
    script = f"{RAILS_PROBE}; {UNICORN_PROBE}" if server == "unicorn" else RAILS_PROBE
    probe = subprocess.run(["ruby", "-e", script], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        lines = probe.stderr.strip().splitlines()
        return lines[0] if lines else "a gem"
    return None


def ensure_app(app: str, server: str = "") -> None:
    """Check the app's runtime (with Unicorn when the web tier's ``server`` is unicorn); install the Rails
    packages with apt-get when root on Debian.

    ``CONNLAB_NO_INSTALL=1`` turns the install off: then a missing package is only named.
    """
    if app != "rails":
        return
    missing = rails_missing(server)
    if missing is None:
        return
    packages = " ".join(RAILS_PACKAGES)
    install = os.environ.get("CONNLAB_NO_INSTALL", "") in ("", "0")
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"connlab: Ruby/Rails missing ({missing}); installing with apt-get: {packages}",
              file=sys.stderr, flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *RAILS_PACKAGES]):
            result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise MissingDependency(f"`{' '.join(argv)}` failed; install by hand: apt-get install {packages}")
        missing = rails_missing(server)
        if missing is None:
            return
    raise MissingDependency(f"the Rails app needs Ruby and its gems ({missing} is missing): "
                            f"apt-get install {packages}")


def _job_library(plan: Plan) -> str:
    """The job library the app runs: the worker tier's kind (``harness.kinds.workers``)."""
    return worker_kind(app=plan.app, forking=plan.worker is not None and plan.worker.kind == "forking")


def settings(plan: Plan, endpoints: Endpoints, group: str, **extra: object) -> dict[str, str]:
    """The ``CONNLAB_*`` variables of one app process (stacks/CONTRACT.md), whichever backend runs it."""
    env = {
        **endpoints.variables,
        "CONNLAB_GROUP": group,
        "CONNLAB_PYTHON": sys.executable,
        # the job library the web enqueues to and the worker runs: RQ forks a process per job
        "CONNLAB_JOBS": _job_library(plan),
    }
    env.update({f"CONNLAB_{key.upper()}": str(value) for key, value in extra.items()})
    return env


def _orm_settings(plan: Plan) -> dict[str, object]:
    """The web's ORM: nothing for SQLAlchemy (the default); for Django, CONN_MAX_AGE and its native pool."""
    orm = plan.orm
    if orm.name != "django":
        return {}
    pool = orm.pool
    if pool is None:
        return django.app_settings(conn_max_age=orm.conn_max_age)
    return django.app_settings(conn_max_age=orm.conn_max_age, min_size=pool.min_size, max_size=pool.max_size,
                               timeout_s=pool.timeout_s)


def web_settings(plan: Plan, endpoints: Endpoints, *, dyno: int, port: int) -> dict[str, str]:
    web = plan.web
    # CONNLAB_SERVER: the web server bin/web execs (rails: puma, the default, or unicorn)
    server = web.server or WEB_SERVERS.get(plan.app, ("puma",))[0]
    return settings(plan, endpoints, f"web.{dyno}", port=port, workers=web.processes, threads=web.threads,
                    pool=web.pool, checkout_timeout_s=web.checkout_timeout_s, fork_safety=web.fork_safety,
                    server=server, **_orm_settings(plan))


def worker_settings(plan: Plan, endpoints: Endpoints, *, process: int) -> dict[str, str]:
    assert plan.worker is not None
    return settings(plan, endpoints, f"worker.{process}", concurrency=plan.worker.concurrency,
                    pool=plan.worker.pool, checkout_timeout_s=plan.worker.checkout_timeout_s,
                    fork_safety=plan.worker.fork_safety)


def oneoff_settings(plan: Plan, endpoints: Endpoints, *, group: str, hold_s: float,
                    connections: int) -> dict[str, str]:
    return settings(plan, endpoints, group, hold_s=hold_s, connections=connections, pool=connections,
                    checkout_timeout_s=5)


def web_part(plan: Plan, endpoints: Endpoints, *, dyno: int, port: int) -> AppPart:
    """Dyno number ``dyno`` of the web tier, serving on 127.0.0.1:``port``."""
    return AppPart(name=f"web.{dyno}", command="web", settings=web_settings(plan, endpoints, dyno=dyno, port=port),
                   log_name=f"web.{dyno}.log",
                   ready=HttpOk(url=f"http://127.0.0.1:{port}/health", timeout_s=WEB_READY_TIMEOUT_S))


def worker_part(plan: Plan, endpoints: Endpoints, *, process: int) -> AppPart:
    return AppPart(name=f"worker.{process}", command="worker",
                   settings=worker_settings(plan, endpoints, process=process), log_name=f"worker.{process}.log",
                   ready=LogLine(text=READY_LINE, timeout_s=WORKER_READY_TIMEOUT_S))


def oneoff_part(plan: Plan, endpoints: Endpoints, *, group: str, index: int, hold_s: float,
                connections: int) -> AppPart:
    """A one-off (``group#index``): it ends on its own, and nothing waits for it to be ready."""
    return AppPart(name=f"{group}#{index}", command="oneoff",
                   settings=oneoff_settings(plan, endpoints, group=group, hold_s=hold_s, connections=connections),
                   log_name=f"{group}.{index}.log")


def app_dir(plan: Plan) -> Path:
    """The sample app's folder (``bin/web``, ``bin/worker``, ``bin/oneoff``)."""
    return APPS_DIR / plan.app


def local_env(app_settings: dict[str, str]) -> dict[str, str]:
    """This process's environment, less any CONNLAB_* of its own, plus the app process's settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONNLAB_")}
    return {**env, **app_settings}

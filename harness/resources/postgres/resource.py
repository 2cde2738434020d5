"""Postgres as a ``Resource``: the registry's entry (``harness.resources.registry``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import PlanError
from harness.resources.base import Collector, Fault, Place, Resource, Server
from harness.resources.limits import Limits
from harness.resources.postgres import faults
from harness.resources.postgres.collector import PostgresCollector
from harness.resources.postgres.container import PostgresContainer
from harness.resources.postgres.limits import NAME, PostgresLimits
from harness.resources.postgres.server import PostgresServer, ssl_bin_dir


def _limits(limits: Limits) -> PostgresLimits:
    assert isinstance(limits, PostgresLimits), limits
    return limits


def _local(limits: Limits, place: Place) -> Server:
    return PostgresServer.for_limits(_limits(limits), run_dir=place.run_dir)


def _container(limits: Limits, place: Place) -> Server:
    return PostgresContainer.for_limits(_limits(limits), place=place)


def _collector(server: Any) -> Collector:
    return PostgresCollector(server)


def _preflight(path: Path, limits: Limits, backend: str) -> None:
    """SSL needs a Postgres built with OpenSSL (Debian's, locally); the container runs without it so far."""
    if not _limits(limits).ssl:
        return
    if backend == "local":
        ssl_bin_dir()  # fail before anything starts when no Postgres with OpenSSL is installed
    else:
        raise PlanError([f"{path}: {NAME}.ssl: the {backend} backend runs Postgres without SSL so far; "
                         "use --backend local for it"])


def _needed_at_boot(plan: Any, tier: str) -> bool:
    """A fork-unsafe tier's master connects before it forks; every other process connects lazily."""
    processes = plan.web if tier == "web" else plan.worker
    return processes is not None and processes.fork_safety == "unsafe"


RESOURCE = Resource(
    name=NAME,
    url_variable="CONNLAB_DATABASE_URL",
    servers={"local": _local, "docker": _container},
    collector=_collector,
    faults={
        "kill_backends": Fault(label=lambda group: f"pg_terminate_backend {group or 'every app'}*",
                               run=faults.kill_backends),
        "restart_postgres": Fault(label=lambda _group: "restart Postgres", run=faults.restart_postgres),
    },
    preflight=_preflight,
    needed_at_boot=_needed_at_boot,
)

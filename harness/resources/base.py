"""The faces of a server kind that the stages see: a running ``Server``, its ``Collector``, and the ``Resource``
that makes both (its registry entry, ``harness.resources.registry``).

A server kind is one package, ``harness/resources/<name>/``::

    limits.py     its limits in the plan, their validation, its capacity, its faults' and full error's names
    server.py     the local server (a process on 127.0.0.1)
    container.py  the container (the docker backend)
    admin.py      the harness's one connection to it (readiness, sampling and faults share it)
    sampler.py    the sampled count per group, over the admin connection
    log.py        the exact replay of its own log, and its refusal markers
    faults.py     what the events timeline may do to it
    resource.py   the ``Resource`` that ties them: one line in ``harness.resources.registry``

The layers hold inside the package too: the collector's modules (``sampler``, ``log``) never import
``server`` or ``container``, and those never import a collector (tests/test_layers.py). The stack imports only
this module: the ``Resource`` entries reach it from its caller.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.observation import ResourceObservation
from harness.resources.limits import Limits

__all__ = ["Collector", "Fault", "Observed", "Place", "Resource", "Server"]


@dataclass(frozen=True, kw_only=True)
class Place:
    """Where a stack runs its servers: the backend's name and what its servers need of it."""

    backend: str
    run_dir: Path
    say: Callable[[str], None] = lambda _: None
    #: the docker backend's engine client and its run's label value; unused locally
    engine: Any = None
    run_id: str = ""


class Server(Protocol):
    """One running server of either backend."""

    #: the resource's name, also the name of its part in the stack's start-up figures
    name: str
    #: its log, which the exact replay reads
    log_path: Path

    @property
    def url(self) -> str:
        """What the apps are told (``Resource.url_variable``), credentials included."""

    @property
    def log_is_live(self) -> bool:
        """The log grows while the run goes (a local server writes it); else it is whole only after ``stop``."""

    def start(self) -> None:
        """Start and wait until it is ready; on failure stop what started and re-raise."""

    def stop(self) -> None:
        """Stop, always; a second call does nothing."""

    def check_alive(self) -> None:
        """Raise ``ComponentDied`` when it exited on its own."""

    def versions(self) -> dict[str, str]:
        """What it answers it runs (``{"postgres": "18.1"}``); empty when it does not answer."""


@dataclass(frozen=True, kw_only=True)
class Observed:
    """A server's figures after the run, with what the timeline should say about how they were found."""

    observation: ResourceObservation
    notes: tuple[str, ...] = ()


class Collector(Protocol):
    """Counts one server's connections while the run goes and replays its log after."""

    @property
    def latest(self) -> Counter[str]:
        """The last sample's count per group (the live view reads it)."""

    def start(self) -> None: ...

    def refused_so_far(self) -> int | None:
        """The refusals so far, for the live view; None when not known yet."""

    def stop(self) -> None:
        """Stop sampling, and read what must be read while the server still runs (before the stack goes down)."""

    def observe(self, *, traffic_start_epoch_s: float) -> Observed:
        """After the stack is down: the exact figures from the log, or the sampled ones and why."""


@dataclass(frozen=True, kw_only=True)
class Fault:
    """Something the events timeline does to a server: ``label(group)`` names the step before it happens,
    ``run(server, group)`` does it and returns the line for the timeline."""

    label: Callable[[str], str]
    run: Callable[[Any, str], str]


@dataclass(frozen=True, kw_only=True)
class Resource:
    """A server kind: everything the stages need of it, each a function of its own package."""

    name: str
    #: the variable that carries ``Server.url`` to every app process
    url_variable: str
    #: the server, per backend (``Place.backend``): a local process, a container
    servers: Mapping[str, Callable[[Limits, Place], Server]]
    collector: Callable[[Server], Collector]
    faults: Mapping[str, Fault] = field(default_factory=dict)
    #: ``preflight(plan_path, limits, backend)`` raises ``MissingDependency`` / ``PlanError`` before anything
    #: starts when ``backend`` cannot run these limits
    preflight: Callable[[Path, Limits, str], None] = lambda _path, _limits, _backend: None

    #: ``needed_at_boot(plan, tier)``: whether the ``tier``'s processes ("web", "worker") connect to this server as
    #: they boot, so the stack starts them once it answers
    needed_at_boot: Callable[[Any, str], bool] = lambda _plan, _tier: False

    def server(self, limits: Limits, place: Place) -> Server:
        return self.servers[place.backend](limits, place)

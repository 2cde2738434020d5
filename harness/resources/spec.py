"""What a plan and a verdict may know of a server kind without its driver: ``Limits`` and ``LimitsKind``.

Each kind's ``limits`` module builds its ``LimitsKind`` from these; ``harness.resources.limits`` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from harness.validate import Reader

__all__ = ["Limits", "LimitsKind"]


class Limits(Protocol):
    """A server's limits as the plan gives them."""

    @property
    def limit(self) -> int:
        """The setting the plan names (``max_connections``, ``maxclients``)."""

    @property
    def capacity(self) -> int:
        """The connections the apps can open."""


@dataclass(frozen=True, kw_only=True)
class LimitsKind:
    """What a scenario and its verdict may say about one server kind, without a driver: its limits, the faults
    its events may inject (action -> the event's fields), the error kind users see when it is full and the
    words that tell it (the refusal markers, lowercase), and what it is to the apps (``role``: "database" is
    what the ORM's pool connects to)."""

    name: str
    title: str
    role: str
    read: Callable[[Reader, Any], Limits]
    faults: dict[str, tuple[str, ...]]
    full_error: str
    full_markers: tuple[str, ...]
    #: why a refusal can come while the peak stays below capacity, for these limits ("" when nothing says)
    refusal_note: Callable[[Any], str] = lambda _limits: ""
    #: the room the apps have, in the server's own words, for these limits (``capacity 10 (max_connections 13 -
    #: 3 reserved)``, ``maxclients 16``)
    room: Callable[[Any], str] = lambda limits: f"capacity {limits.capacity}"
    #: the keys its server's versions come under (``Server.versions``), in the order a line of versions shows them
    version_keys: tuple[str, ...] = ()

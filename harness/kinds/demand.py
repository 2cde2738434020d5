"""``Demand``: what one process of a kind holds on one resource."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Demand:
    """Connections one process holds: ``expected`` (sure to open under load), ``worst`` (every pool full), and
    ``formula``, the rule with its numbers (``C + 1 = 11: a BRPOP per processor + the heartbeat``), and ``kind``,
    the title of the process kind that holds them (``Sidekiq``), where one kind's function made it."""

    expected: int
    worst: int
    formula: str
    kind: str = ""

    def __add__(self, other: Demand) -> Demand:
        return Demand(expected=self.expected + other.expected, worst=self.worst + other.worst,
                      formula=f"{self.formula}; {other.formula}",
                      kind=self.kind or other.kind)

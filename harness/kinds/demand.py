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
                      formula="; ".join(part for part in (self.formula, other.formula) if part),
                      kind=self.kind or other.kind)


def counted(count: int, word: str, plural: str = "") -> str:
    """``1 thread``, ``3 threads``, ``2 processes`` (``plural`` where adding an s is wrong)."""
    return f"{count} {word if count == 1 else plural or word + 's'}"


def holding(count: int, holders: str) -> str:
    """Who shares a pool, in a formula: ``3 threads``, or a worker's ``concurrency 5``."""
    return f"concurrency {count}" if holders == "concurrency" else counted(count, holders)

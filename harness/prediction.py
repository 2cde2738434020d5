"""What a prediction is: the figures per process group, per resource and per topology, and their status.

``harness.predict`` computes them (the resources' demand modules, ``harness.resources.demands``, give the
groups); the verdict, the report, the demo and ``connlab check`` read them. Kept apart from the arithmetic so a
resource's demand module can build groups without importing ``harness.predict``, which loops over the resources.

Status: ``exhausts`` when expected > capacity, ``at-risk`` when only the worst case is, ``fits`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AT_RISK", "EXHAUSTS", "FITS", "GroupPrediction", "Prediction", "ResourcePrediction"]

FITS, AT_RISK, EXHAUSTS = "fits", "at-risk", "exhausts"


@dataclass(frozen=True, kw_only=True)
class GroupPrediction:
    """One process group's connections on one resource; ``formula`` is the kind's for the group (a dyno's
    ``2 x min(3 threads, pool 5)``, a worker process's ``2C = 6: ...``), empty where the scenario gave the figure;
    ``kind``, the title of the worker's kind (``Sidekiq``), where one made it."""

    group: str
    tier: str
    expected: int
    worst_case: int
    formula: str = ""
    kind: str = ""


@dataclass(frozen=True, kw_only=True)
class ResourcePrediction:
    name: str
    limit: int
    capacity: int
    groups: tuple[GroupPrediction, ...]

    @property
    def expected(self) -> int:
        return sum(g.expected for g in self.groups)

    @property
    def worst_case(self) -> int:
        return sum(g.worst_case for g in self.groups)

    @property
    def status(self) -> str:
        if self.expected > self.capacity:
            return EXHAUSTS
        if self.worst_case > self.capacity:
            return AT_RISK
        return FITS


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """The arithmetic for one topology (the plan's web tier at ``web_dynos`` dynos)."""

    web_dynos: int
    resources: tuple[ResourcePrediction, ...]
    pool_starvation: tuple[str, ...]

    def resource(self, name: str) -> ResourcePrediction:
        return next(r for r in self.resources if r.name == name)

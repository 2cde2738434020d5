"""Reading parsed YAML with every problem collected: one line each, naming file, field and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Range:
    """An expected figure: ``min <= value <= max`` (either bound may be open)."""

    min: float | None = None
    max: float | None = None

    def holds(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def __str__(self) -> str:
        if self.min is not None and self.min == self.max:
            return f"= {self.min:g}"
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        return " and ".join(parts) or "anything"



class Reader:
    """Walks a parsed YAML mapping, collecting one line per problem instead of stopping."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []

    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"{self.path}: {where}: {text}")

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(where, f"must be a mapping with keys {', '.join(allowed)}")
            return {}
        for key in value:
            if key not in allowed:
                self.problem(
                    f"{where}.{key}" if where else str(key),
                    f"unknown key; allowed here: {', '.join(allowed)}",
                )
        return value

    def integer(self, data: dict[str, Any], key: str, where: str, *, minimum: int,
                default: int | None = None) -> int:
        value = data.get(key, default)
        name = f"{where}.{key}"
        if value is None:
            self.problem(name, f"is required: an integer >= {minimum}")
            return minimum
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(name, f"must be an integer >= {minimum}, got {value!r}")
            return minimum
        if value < minimum:
            self.problem(name, f"must be >= {minimum}, got {value}")
            return minimum
        return value

    def number(self, data: dict[str, Any], key: str, where: str, *, minimum: float,
               default: float | None = None, maximum: float | None = None,
               exclusive_min: bool = False) -> float:
        value = data.get(key, default)
        name = f"{where}.{key}"
        bounds = f"{'>' if exclusive_min else '>='} {minimum:g}"
        if maximum is not None:
            bounds += f" and <= {maximum:g}"
        if value is None:
            self.problem(name, f"is required: a number {bounds}")
            return minimum
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(name, f"must be a number {bounds}, got {value!r}")
            return minimum
        too_low = value <= minimum if exclusive_min else value < minimum
        if too_low or (maximum is not None and value > maximum):
            self.problem(name, f"must be {bounds}, got {value}")
            return minimum
        return float(value)

    def text(self, data: dict[str, Any], key: str, where: str, *, choices: tuple[str, ...] = (),
             default: str | None = None) -> str:
        value = data.get(key, default)
        name = f"{where}.{key}" if where else key
        allowed = f"one of {', '.join(choices)}" if choices else "a non-empty string"
        if value is None:
            self.problem(name, f"is required: {allowed}")
            return choices[0] if choices else ""
        if not isinstance(value, str) or not value:
            self.problem(name, f"must be {allowed}, got {value!r}")
            return choices[0] if choices else ""
        if choices and value not in choices:
            self.problem(name, f"must be one of {', '.join(choices)}, got {value!r}")
            return choices[0]
        return value

    def boolean(self, data: dict[str, Any], key: str, where: str, *, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(f"{where}.{key}", f"must be true or false, got {value!r}")
            return default
        return value

    def range_(self, value: Any, where: str) -> Range | None:
        if isinstance(value, bool):
            self.problem(where, f"must be a number or {{min: , max: }}, got {value!r}")
            return None
        if isinstance(value, int | float):
            return Range(min=float(value), max=float(value))
        data = self.mapping(value, where, ("min", "max"))
        if not data:
            self.problem(where, "must be a number or a mapping with min and/or max")
            return None
        bounds: dict[str, float] = {}
        for key in ("min", "max"):
            if key in data:
                bound = data[key]
                if isinstance(bound, bool) or not isinstance(bound, int | float):
                    self.problem(f"{where}.{key}", f"must be a number, got {bound!r}")
                else:
                    bounds[key] = float(bound)
        return Range(min=bounds.get("min"), max=bounds.get("max"))

"""Reading parsed YAML with every problem collected: one line each, naming file, field and what is allowed.

Every number is finite and bounded (``Reader.integer`` and ``Reader.number`` take
the field's upper bound), every name that can become part of a path or a log
file's name is an identifier (``IDENTIFIER``), and every value a message quotes
is shown escaped and cut short (``shown``): a scenario's text never reaches the
terminal raw, so an escape code in it cannot recolour or rewrite the screen, and
a megabyte of it cannot fill one line. ``inside(base, *parts)`` is the last
guard where names are joined to a folder.
"""

from __future__ import annotations

import math
import re
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import PlanError

#: a name that becomes part of a path, a log file's name, a Postgres application_name (63 bytes at most) or a
#: Redis client name: lowercase letters, digits, ``_ . -``, starting with a letter or a digit, no ``..``
IDENTIFIER = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
IDENTIFIER_RULE = "1-63 of a-z 0-9 _ . - starting with a letter or digit, no '..'"
#: the most characters of a value that a message quotes
SHOWN_CHARS = 60
#: the largest expected figure (a peak, a count of refusals or errors) an expect section may name
MAX_FIGURE = 1e9

_REPR = reprlib.Repr()
_REPR.maxstring = SHOWN_CHARS
_REPR.maxother = SHOWN_CHARS
_REPR.maxlong = 40


def escaped(text: str) -> str:
    """``text`` with every character that is not printable (escape codes, newlines, bidi controls) written as
    its Python escape, as ``repr`` would: one line, and nothing a terminal acts on."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown(value: Any) -> str:
    """``value`` as a message quotes it: ``repr``-like, escaped, at most about ``SHOWN_CHARS`` characters."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10 ** 40:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    try:
        return escaped(_REPR.repr(value))
    except (ValueError, RecursionError):  # an int too long to convert, deep inside a list
        return f"a {type(value).__name__}"


def shown_path(path: Path | str) -> str:
    """A path as messages print it: as given, escaped when it holds a character a terminal would act on."""
    return escaped(str(path))


def shown_key(key: Any) -> str:
    """A mapping key as part of a field's name in a message (``tiers.web.<key>``): escaped and cut short."""
    text = key if isinstance(key, str) else shown(key)
    return escaped(text[:SHOWN_CHARS]) + ("..." if len(text) > SHOWN_CHARS else "")


def is_identifier(name: str) -> bool:
    """Whether ``name`` is safe as part of a file name (``IDENTIFIER``, no ``..``)."""
    return IDENTIFIER.fullmatch(name) is not None and ".." not in name


def inside(base: Path, *parts: str) -> Path:
    """``base / parts...``, resolved, checked to stay inside ``base``; ``PlanError`` (one line) when it would not.

    Names are identifiers by the time they get here (``Reader.identifier``); this is the guard that holds even
    when one was not."""
    root = base.resolve()
    path = root.joinpath(*parts).resolve()
    if not path.is_relative_to(root) or path == root:
        raise PlanError([f"{shown_path(root.joinpath(*parts))}: outside {shown_path(root)}; names in a scenario "
                         f"are {IDENTIFIER_RULE}"])
    return path


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
        self.problems.append(f"{shown_path(self.path)}: {where}: {text}")

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(where, f"must be a mapping with keys {', '.join(allowed)}")
            return {}
        for key in value:
            if key not in allowed:
                self.problem(
                    f"{where}.{shown_key(key)}" if where else shown_key(key),
                    f"unknown key; allowed here: {', '.join(allowed)}",
                )
        return value

    def integer(self, data: dict[str, Any], key: str, where: str, *, minimum: int, maximum: int,
                default: int | None = None) -> int:
        """``data[key]``, an integer from ``minimum`` to ``maximum`` (what the field can mean)."""
        value = data.get(key, default)
        name = f"{where}.{key}"
        if value is None:
            self.problem(name, f"is required: an integer >= {minimum}")
            return minimum
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(name, f"must be an integer >= {minimum}, got {shown(value)}")
            return minimum
        if value < minimum:
            self.problem(name, f"must be >= {minimum}, got {shown(value)}")
            return minimum
        if value > maximum:
            self.problem(name, f"must be <= {maximum}, got {shown(value)}")
            return minimum
        return value

    def number(self, data: dict[str, Any], key: str, where: str, *, minimum: float, maximum: float,
               default: float | None = None, exclusive_min: bool = False) -> float:
        """``data[key]``, a finite number from ``minimum`` to ``maximum``: NaN and infinity are no figures."""
        value = data.get(key, default)
        name = f"{where}.{key}"
        bounds = f"{'>' if exclusive_min else '>='} {minimum:g} and <= {maximum:g}"
        if value is None:
            self.problem(name, f"is required: a number {bounds}")
            return minimum
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(name, f"must be a number {bounds}, got {shown(value)}")
            return minimum
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(name, f"must be a finite number {bounds}, got {shown(value)}")
            return minimum
        too_low = value <= minimum if exclusive_min else value < minimum
        if too_low or value > maximum:
            self.problem(name, f"must be {bounds}, got {shown(value)}")
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
            self.problem(name, f"must be {allowed}, got {shown(value)}")
            return choices[0] if choices else ""
        if choices and value not in choices:
            self.problem(name, f"must be one of {', '.join(choices)}, got {shown(value)}")
            return choices[0]
        return value

    def identifier(self, data: dict[str, Any], key: str, where: str, *, default: str | None = None) -> str:
        """``data[key]``, a name that may become part of a path or a log file's name (``IDENTIFIER``); "" when it
        is missing or is not one (the problem is recorded)."""
        value = data.get(key, default)
        name = f"{where}.{key}" if where else key
        if value is None:
            self.problem(name, f"is required: a name of {IDENTIFIER_RULE}")
            return ""
        if not isinstance(value, str) or not is_identifier(value):
            self.problem(name, f"must be a name of {IDENTIFIER_RULE}, got {shown(value)}")
            return ""
        return value

    def boolean(self, data: dict[str, Any], key: str, where: str, *, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(f"{where}.{key}", f"must be true or false, got {shown(value)}")
            return default
        return value

    def _figure(self, value: Any, where: str) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                (isinstance(value, float) and not math.isfinite(value)) or not 0 <= value <= MAX_FIGURE:
            self.problem(where, f"must be a number from 0 to {MAX_FIGURE:g}, got {shown(value)}")
            return None
        return float(value)

    def range_(self, value: Any, where: str) -> Range | None:
        """An expected figure: a number, or ``{min: , max: }``, each finite and from 0 to ``MAX_FIGURE``."""
        if isinstance(value, bool):
            self.problem(where, f"must be a number or {{min: , max: }}, got {shown(value)}")
            return None
        if isinstance(value, int | float):
            figure = self._figure(value, where)
            return None if figure is None else Range(min=figure, max=figure)
        data = self.mapping(value, where, ("min", "max"))
        if not data:
            if isinstance(value, dict) or value is None:
                self.problem(where, "must be a number or a mapping with min and/or max")
            return None
        bounds: dict[str, float] = {}
        for key in ("min", "max"):
            if key in data and (figure := self._figure(data[key], f"{where}.{key}")) is not None:
                bounds[key] = figure
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            self.problem(where, f"min ({bounds['min']:g}) must be <= max ({bounds['max']:g})")
        return Range(min=bounds.get("min"), max=bounds.get("max"))

"""No module outside the plug-in points spells a server's name in code (issue 17).

Walks every module of ``harness`` outside ``harness/resources/`` (the servers), ``harness/kinds/`` (the process
kinds and their demand on each server) and ``harness/check/`` (the readers of what apps write), and collects every
identifier (names, attributes, definitions, arguments, keywords, imported names) and every string constant that
is not a docstring, which contains ``postgres``, ``redis`` or ``valkey``. Comments are not code and are not read.

The contract's vocabulary is allowed by name, nowhere else: the traffic fields ``redis_ms``/``job_redis_ms`` and
the error kinds (``harness.plan.ERROR_KINDS``).

``NOT_YET_CLEAN`` lists the modules that still name a server; the test fails both on a module that starts to and
on a listed one that no longer does, so the list only shrinks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from harness.plan import ERROR_KINDS

HARNESS = Path(__file__).resolve().parent.parent / "harness"
PLUG_INS = ("resources", "kinds", "check")
SERVER_NAME = re.compile(r"postgres|redis|valkey", re.IGNORECASE)
CONTRACT = {"redis_ms", "job_redis_ms", *ERROR_KINDS}
_CONTRACT_WORD = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, CONTRACT), key=len, reverse=True)) + r")\b")

#: The modules that still spell a server's name, and so the work left of issue 17's de-naming.
NOT_YET_CLEAN: set[str] = set()


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _words(tree: ast.Module) -> list[str]:
    skip = _docstrings(tree)
    words: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            words.append(node.name)
        elif isinstance(node, ast.arg | ast.keyword) and node.arg is not None:
            words.append(node.arg)
        elif isinstance(node, ast.alias):
            words.extend(node.name.split("."))
            if node.asname:
                words.append(node.asname)
        elif isinstance(node, ast.ImportFrom) and node.module:
            words.extend(node.module.split("."))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            words.append(node.value)
    return words


def naming(path: Path) -> list[str]:
    """The words in ``path``'s code that name a server, the contract's vocabulary left out."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return sorted({word for word in _words(tree) if SERVER_NAME.search(_CONTRACT_WORD.sub("", word))})


def _modules() -> list[Path]:
    return sorted(path for path in HARNESS.rglob("*.py")
                  if path.relative_to(HARNESS).parts[0] not in PLUG_INS)


def test_the_walk_finds_a_name_in_code_and_not_in_a_docstring(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('"""Postgres, in a docstring."""\n\ndef f(redis_url):\n    """Valkey."""\n'
                      '    return {"redis_ms": 1, "x": "a valkey", "y": "set job_redis_ms"}\n')
    assert naming(sample) == ["a valkey", "redis_url"]


def test_no_module_outside_the_plug_in_points_names_a_server() -> None:
    found = {str(path.relative_to(HARNESS)): naming(path) for path in _modules()}
    named = {module for module, words in found.items() if words}
    new = sorted(named - NOT_YET_CLEAN)
    assert not new, {module: found[module][:8] for module in new}
    cleaned = sorted(NOT_YET_CLEAN - named)
    assert not cleaned, f"these no longer name a server: take them out of NOT_YET_CLEAN: {cleaned}"

"""The layers point one way: harness/'s imports, read from the source (nothing is imported), obey the layout's rules.

An arrow is every ``import x`` and ``from x import y`` in a module of harness/ (the sample apps, programs of their
own, stand outside it, in the top-level stacks/), wherever it stands: at the top, inside a
function, or under ``if TYPE_CHECKING:``. A type-only import counts like any other: it is a dependency on the
other module's face all the same (the old stack/base.py's ``RedisKill`` from the Redis log replay was one), and
counting it everywhere means no import, whether it runs or not, can close a circle. ``from a import b`` is an arrow to
``a.b`` when that is a module, else to ``a``. A package's ``__init__`` is only an arrow's end when it is named.

The rules (README.md's Architecture, /work/shared/DESIGN.md's layout):

* no import circle among harness's modules;
* the collectors (harness.collect; each server kind's sampler, log and collector) reach no backend module (the
  launchers, the Stack, each server kind's server and container), directly or through others;
* no module of harness/stack/ reaches a collector (the Stack gets the resources' entries from its caller);
* the ground floor (harness/ground/: process groups, the run registry, the reaper) stands on nothing above it.

And the reaper's lifecycle, which moved from the CLI onto the pipeline: ``harness.pipeline.execute`` begins the
run and ends it whichever way it leaves, so a library caller gets what ``connlab run`` gets (no server starts).
"""

from __future__ import annotations

import ast
import signal
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from harness import pipeline
from harness.errors import StackError
from harness.ground import process
from harness.ground.lifetime import run_lifetime
from harness.plan import load_plan
from tests.helpers import SMALL_SCENARIO

HARNESS = Path(__file__).resolve().parents[1] / "harness"
SERVER_KINDS = ("postgres", "redis")
#: the collectors: the shared sampler, and each server kind's sampler, log replay and collector
COLLECTORS = ("harness.collect", *(f"harness.resources.{kind}.{part}" for kind in SERVER_KINDS
                                   for part in ("sampler", "log", "collector")))
#: the backends: the launchers and what they run on, and each server kind's local server and container
BACKENDS = (*(f"harness.stack.{name}" for name in ("local", "docker_stack", "containers", "apps", "stack")),
            *(f"harness.resources.{kind}.{part}" for kind in SERVER_KINDS for part in ("server", "container")))
#: what the ground floor may stand on besides itself: leaf modules that import nothing of the harness's but errors
GROUND_MAY_IMPORT = ("harness.errors", "harness.privilege", "harness.signals")

Graph = Mapping[str, frozenset[str]]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def harness_files(root: Path = HARNESS) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _target(name: str, modules: Iterable[str]) -> str | None:
    """The harness module ``name`` loads: itself, else the longest of its prefixes that is one."""
    known = set(modules)
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return None


def imports_of(module: str, source: str, modules: Iterable[str], *, is_package: bool = False) -> frozenset[str]:
    """The harness modules ``module``'s source imports, from every ``import`` statement anywhere in it."""
    known = frozenset(modules)
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(t for alias in node.names if (t := _target(alias.name, known)) is not None)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = _target(f"{base}.{alias.name}", known) if f"{base}.{alias.name}" in known else \
                    _target(base, known)
                if target is not None:
                    found.add(target)
    found.discard(module)
    return frozenset(found)


def import_graph(root: Path = HARNESS) -> dict[str, frozenset[str]]:
    files = harness_files(root)
    return {module: imports_of(module, path.read_text(), files, is_package=path.name == "__init__.py")
            for module, path in files.items()}


def circles(graph: Graph) -> list[list[str]]:
    """Every group of modules that import each other round a circle (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def path_to(graph: Graph, start: str, goals: Iterable[str]) -> list[str] | None:
    """The shortest chain of imports from ``start`` to one of ``goals``, or None."""
    wanted = set(goals)
    came_from: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        later = []
        for node in frontier:
            for nxt in sorted(graph.get(node, ())):
                if nxt in came_from:
                    continue
                came_from[nxt] = node
                if nxt in wanted:
                    chain: list[str] = [nxt]
                    while (back := came_from[chain[-1]]) is not None:
                        chain.append(back)
                    return chain[::-1]
                later.append(nxt)
        frontier = later
    return None


def forbidden_reach(graph: Graph, sources: Iterable[str], goals: Iterable[str]) -> list[str]:
    """One line per source that reaches a goal: the chain of imports."""
    chains = (path_to(graph, source, goals) for source in sorted(sources) if source in graph)
    return [" -> ".join(chain) for chain in chains if chain is not None]


def test_the_walk_sees_every_kind_of_import() -> None:
    modules = ["harness.a", "harness.a.b", "harness.c", "harness.d", "harness.e", "harness.f"]
    source = ("import harness.c\n"
              "from harness.a import b\n"
              "from typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from harness.d import Thing\n"
              "def later():\n    import harness.e.sub\n"
              "from . import f\n")
    assert imports_of("harness.x", source, modules) == {"harness.c", "harness.a.b", "harness.d", "harness.e",
                                                         "harness.f"}


def test_the_rules_can_fail() -> None:
    graph = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    assert circles(graph) == [["a", "b", "c"]]
    assert forbidden_reach(graph, ["d"], ["c"]) == ["d -> a -> b -> c"]


def test_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_the_collectors_reach_no_backend() -> None:
    assert forbidden_reach(import_graph(), COLLECTORS, BACKENDS) == []


def test_the_stack_reaches_no_collector() -> None:
    graph = import_graph()
    stack = [module for module in graph if module.startswith("harness.stack.")]
    assert forbidden_reach(graph, stack, COLLECTORS) == []


def test_the_ground_floor_stands_on_nothing_above_it() -> None:
    graph = import_graph()
    ground = [module for module in graph if module == "harness.ground" or module.startswith("harness.ground.")]
    assert ground, "harness/ground/ is the ground floor"
    above = {f"{module} -> {target}" for module in ground for target in graph[module]
             if not target.startswith("harness.ground") and target not in GROUND_MAY_IMPORT}
    assert sorted(above) == []


def _cmdlines_with(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_execute_begins_its_run_and_ends_it_whichever_way_it_leaves(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    registry_dir = tmp_path / "registry"
    monkeypatch.setenv("CONNLAB_RUNS_DIR", str(registry_dir))
    scenario = tmp_path / "small.yaml"
    scenario.write_text(SMALL_SCENARIO)
    plan = load_plan(scenario)
    seen: dict[str, Any] = {}

    def a_run_that_fails(*_: object, **__: object) -> None:
        [record] = registry_dir.glob("run-*.json")
        seen["reapers"] = _cmdlines_with(str(record))
        stray = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a group the run did not stop
        process.register_group(stray.pid, "stray", signal.SIGTERM)
        seen["stray"] = stray
        raise StackError("postgres died")

    monkeypatch.setattr(pipeline, "run", a_run_that_fails)
    lines: list[str] = []
    try:
        with pytest.raises(StackError):
            pipeline.execute(plan, out=tmp_path / "runs", notice=lines.append)
    finally:
        if "stray" in seen and seen["stray"].poll() is None:
            seen["stray"].kill()
    assert len(seen["reapers"]) == 1  # the run's reaper ran while the run did
    assert not Path(f"/proc/{seen['stray'].pid}").exists()  # ended (and reaped) by the end's sweep
    assert lines == ["ended leftover process groups: stray"]
    assert list(registry_dir.iterdir()) == []  # the record is gone, and with it the reaper
    assert all(not Path(f"/proc/{pid}").exists() for pid in seen["reapers"])

    with run_lifetime(lines.append):  # the demo's: one run around its steps, each execute inside it
        with pytest.raises(StackError):
            pipeline.execute(plan, out=tmp_path / "runs", notice=lines.append)
        assert len(list(registry_dir.glob("run-*.json"))) == 1  # the step's execute did not end the demo's run
    assert list(registry_dir.iterdir()) == []


def test_every_named_module_exists() -> None:
    """The rules name real modules: a rename would otherwise leave a rule that checks nothing."""
    graph = import_graph()
    assert sorted(set(COLLECTORS + BACKENDS) - set(graph)) == []

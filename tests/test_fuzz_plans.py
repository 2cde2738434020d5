"""Fuzzing ``connlab predict`` with mutated shipped scenarios (issue 16): no traceback, no exit 70 or 1, no hang, no
write anywhere, and every refusal one printable line.

A fixed seed makes a few hundred files from the shipped scenarios: wrong types, huge numbers, NaN and infinity,
alias bombs, bytes that are not UTF-8, deep nesting, duplicate keys, sexagesimal numbers, paths, escape codes and
Rich markup in names, flipped bytes, deleted keys, and pairs of those. Each goes through ``harness.cli.main`` in
this process (a subprocess each would take minutes); a handful of hostile files go through the real ``python -m
harness predict`` too, for the exit codes end to end.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml

from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("**/*.yaml"))
SEED = 16
CASES = 320
#: a hang detector, not a speed test: a case takes milliseconds (the largest valid plans here, well under a second)
HANG_S = 5.0
MARK = "__mutated__"  # a plain scalar yaml.safe_dump leaves as it is, replaced by raw YAML text after dumping

HUGE = (10**12, -(10**12), 2**63, 10**18, 10**40, 1e300, -1e300)
WRONG = ("x", "", [], [1, 2], {}, {"a": 1}, None, True, False, "1:30", "012", "0x", "web.1")
RAW_NUMBERS = (".nan", ".NaN", ".inf", "-.inf", "+.inf", "1:30", "1:30:00", "1:30.5", "012", "0o17", "0b101",
               "9" * 5001, "-" + "9" * 200, "1e999", "1.0e+999", "0x" + "f" * 300, "1_000_000_000_000")
NAMES = ("../../../../tmp/x", "/etc/passwd", "a/../../b", "..", ".", "", "web.1", "rake", "x" * 200,
         '"\\e[31mred"', '"\\e]0;owned\\a"', '"a\\nb"', '"\\r"', '"\\0"', "[red]x[/red]", "'[red]x[/red]'",
         "'[/]'", "'[bold]'", "café", '"\\u202eevil"', "CON", "name with spaces", "~root", "$HOME", "`id`", "a;b",
         "'-rf'")


@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    data: bytes
    args: tuple[str, ...]


# -- mutations: each takes a random source, the scenario's text and its parsed document, returns the file's bytes --

def _leaves(node: Any, seen: set[int] | None = None) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) in the document, containers included; a container shared through aliases (or
    inside itself) once."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        yield node, key
        yield from _leaves(value, seen)


def _set_random(rng: random.Random, doc: Any, value: Any) -> None:
    leaves = list(_leaves(doc))
    if leaves:
        container, key = rng.choice(leaves)
        container[key] = value


def _dump(doc: Any, raw: str = "") -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).replace(MARK, raw).encode()


def wrong_type(rng: random.Random, text: str, doc: Any) -> bytes:
    _set_random(rng, doc, rng.choice(WRONG))
    return _dump(doc)


def small_number(rng: random.Random, text: str, doc: Any) -> bytes:
    """A number where a number goes, small and odd (0, 1, a fraction): most of these still predict."""
    numbers = [(c, k) for c, k in _leaves(doc) if isinstance(c[k], int | float) and not isinstance(c[k], bool)]
    if numbers:
        container, key = rng.choice(numbers)
        container[key] = rng.choice((0, 1, 2, 3, 5, 0.5, 0.001))
    return _dump(doc)


def huge_number(rng: random.Random, text: str, doc: Any) -> bytes:
    _set_random(rng, doc, rng.choice(HUGE))
    return _dump(doc)


def raw_number(rng: random.Random, text: str, doc: Any) -> bytes:
    """NaN, infinity, sexagesimal, octal, 5001 digits, as YAML text (safe_dump would quote them)."""
    _set_random(rng, doc, MARK)
    return _dump(doc, rng.choice(RAW_NUMBERS))


def alias_bomb(rng: random.Random, text: str, doc: Any) -> bytes:
    width, levels = rng.randint(5, 12), rng.randint(6, 10)
    lines = [f"b0: &b0 [{', '.join(['lol'] * width)}]"]
    lines += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * width)}]" for i in range(1, levels)]
    bomb = "\n".join(lines) + "\n"
    if rng.random() < 0.5:
        return (bomb + text).encode()
    _set_random(rng, doc, MARK)  # the bomb's last level used where a value goes
    return (bomb + _dump(doc, f"*b{levels - 1}").decode()).encode()


def alias_loop(rng: random.Random, text: str, doc: Any) -> bytes:
    """An alias inside its own anchor, or past the count of aliases."""
    if rng.random() < 0.5:
        return f"x: &x [1, *x]\n{text}".encode()
    return f"{text}\na: &a 1\nl: [{', '.join(['*a'] * rng.randint(101, 400))}]\n".encode()


def not_utf8(rng: random.Random, text: str, doc: Any) -> bytes:
    data = text.encode()
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice((b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe9", b"\x80")) + data[at:]


def deep(rng: random.Random, text: str, doc: Any) -> bytes:
    n = rng.choice((49, 51, 60, 500, 5000, 50_000))
    nested = "[" * n + "]" * n if rng.random() < 0.5 else "{a: " * n + "1" + "}" * n
    _set_random(rng, doc, MARK)
    return _dump(doc, nested)


def duplicate_key(rng: random.Random, text: str, doc: Any) -> bytes:
    lines = text.splitlines(keepends=True)
    keyed = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith(("#", "-"))]
    i = rng.choice(keyed)
    return "".join(lines[:i + 1] + [lines[i]] + lines[i + 1:]).encode()


def hostile_name(rng: random.Random, text: str, doc: Any) -> bytes:
    name = rng.choice(NAMES)
    if rng.random() < 0.5:
        doc["name"] = MARK
    else:
        doc.setdefault("extras", [])
        if not isinstance(doc["extras"], list):
            doc["extras"] = []
        doc["extras"].append({"group": MARK, "count": 1, "at_s": 0, "hold_s": 1})
    return _dump(doc, name)


def flip_bytes(rng: random.Random, text: str, doc: Any) -> bytes:
    data = bytearray(text.encode())
    for _ in range(rng.randint(1, 6)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def delete_key(rng: random.Random, text: str, doc: Any) -> bytes:
    if rng.random() < 0.5:
        lines = text.splitlines(keepends=True)
        del lines[rng.randrange(len(lines))]
        return "".join(lines).encode()
    leaves = [(c, k) for c, k in _leaves(doc) if isinstance(c, dict)]
    container, key = rng.choice(leaves)
    del container[key]
    return _dump(doc)


def many_things(rng: random.Random, text: str, doc: Any) -> bytes:
    """Lists past their bounds: events, extras, stages, repeated bursts."""
    which = rng.choice(("events", "extras", "stages", "bursts"))
    if which == "events":
        doc["events"] = [{"at_s": 0.1, "action": "scale", "dynos": 2}] * rng.choice((11, 1000))
    elif which == "extras":
        doc["extras"] = [{"group": "rake", "hold_s": 1}] * rng.choice((21, 1000))
    elif which == "stages":
        doc["traffic"]["stages"] = [{"duration_s": 1, "users": 1}] * rng.choice((101, 5000))
    else:
        doc["extras"] = [{"group": "cron", "hold_s": 1, "every_s": rng.choice((1e-9, 0.001, 0.01))}]
    return _dump(doc)


def control_chars(rng: random.Random, text: str, doc: Any) -> bytes:
    data = text.encode()
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice((b"\x1b[31m", b"\x00", b"\x07", b"\r", b"\x9b", b"\t")) + data[at:]


MUTATIONS: tuple[Callable[[random.Random, str, Any], bytes], ...] = (
    small_number, wrong_type, huge_number, raw_number, alias_bomb, alias_loop, not_utf8, deep, duplicate_key,
    hostile_name, flip_bytes, delete_key, many_things, control_chars)


def cases() -> list[Case]:
    rng = random.Random(SEED)
    texts = {path: path.read_text() for path in SCENARIOS}
    made = []
    for number in range(CASES):
        path = rng.choice(SCENARIOS)
        first = MUTATIONS[number % len(MUTATIONS)]
        chosen = [first] + ([rng.choice(MUTATIONS)] if rng.random() < 0.2 else [])
        data = texts[path].encode()
        for mutation in chosen:
            text = data.decode(errors="replace")
            try:
                doc = yaml.safe_load(text)
            except Exception:  # noqa: BLE001 - not YAML any more (plain safe_load even recurses out on deep nesting)
                doc = None
            data = mutation(rng, text, doc if isinstance(doc, dict) else yaml.safe_load(texts[path]))
        args = tuple(rng.choice(((), ("--json",), ("--app", "rails"), ("--app", "python"), ("--backend", "docker"))))
        made.append(Case(id=f"{number:03d}-{'+'.join(m.__name__ for m in chosen)}-{path.stem}", data=data, args=args))
    return made


# -- the watch: nothing written outside the case's folder ---------------------------------------------------------

_WATCHED: list[Path] = []  # the folder writes may go to while a case runs; empty: not watching
_WRITES: list[str] = []
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _WATCHED:
        return
    target: Any = None
    if event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1], args[2]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
            (isinstance(flags, int) and flags & _WRITE_FLAGS)
        target = path if writes else None
    elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.link", "os.truncate",
                   "shutil.rmtree", "shutil.copyfile", "shutil.move", "os.chmod", "os.chown", "os.utime"):
        target = args[0] if args else "?"
    if target is None or isinstance(target, int):  # an fd: its open was seen
        return
    if "__pycache__" in os.fsdecode(target) if isinstance(target, str | bytes) else False:
        return  # Python's own bytecode cache, written on a first import
    resolved = Path(os.fsdecode(target)).resolve() if isinstance(target, str | bytes | os.PathLike) else None
    if resolved is None or not resolved.is_relative_to(_WATCHED[0]):
        _WRITES.append(f"{event} {target!r}")


sys.addaudithook(_audit)


class Hang(BaseException):
    """A case ran past ``HANG_S`` (a BaseException: main's ``except Exception`` must not turn it into exit 70)."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


def run_case(folder: Path, case: Case) -> tuple[int, str, str, float]:
    """``connlab predict FILE`` in this process, watched: (exit code, stdout, stderr, seconds)."""
    path = folder / "s.yaml"
    path.write_bytes(case.data)
    out, err = io.StringIO(), io.StringIO()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    signal.signal(signal.SIGALRM, _alarm)
    _WATCHED.append(folder.resolve())
    began = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["predict", str(path), *case.args])
    except Hang:
        code = -1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        seconds = time.monotonic() - began
        _WATCHED.clear()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return int(code), out.getvalue(), err.getvalue(), seconds


def _printable(text: str) -> bool:
    return all(line.isprintable() for line in text.splitlines())


def test_mutated_scenarios_are_predicted_or_refused_in_one_line_each(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    made = cases()
    crash_dir = tmp_path / "tmp"  # where a crash's traceback file would go
    crash_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(crash_dir))
    monkeypatch.chdir(tmp_path)
    failures, codes = [], {0: 0, 2: 0}
    began = time.monotonic()
    for case in made:
        folder = tmp_path / case.id
        folder.mkdir()
        code, out, err, seconds = run_case(folder, case)
        why = []
        if code not in (0, 2):
            why.append(f"exit {code}")
        if code == 2:
            lines = err.splitlines()
            if not lines or not all(line.startswith("connlab: ") for line in lines):
                why.append("a refusal line not from connlab")
            if out:
                why.append("a refusal printed to stdout")
        if not _printable(err) or not _printable(out):
            why.append("a control character printed")
        if "Traceback" in err + out:
            why.append("a traceback")
        if seconds > HANG_S:
            why.append(f"{seconds:.1f} s")
        if sorted(p.name for p in folder.iterdir()) != ["s.yaml"]:
            why.append("wrote into the case's folder")
        if _WRITES:
            why.append(f"wrote outside: {_WRITES[:3]}")
            _WRITES.clear()
        if why:
            failures.append(f"{case.id} {case.args}: {', '.join(why)}: {err[:300]!r}")
        codes[code] = codes.get(code, 0) + 1
    assert failures == []
    assert list(crash_dir.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([c.id for c in made] + ["tmp"])
    # the mutations reach both sides: plans that still predict, and refusals
    assert codes[0] >= 10 and codes[2] >= CASES // 2, codes
    assert time.monotonic() - began < 60


def test_the_watch_sees_a_write_outside(tmp_path: Path) -> None:
    """The audit hook above is what proves "no write outside": show that it catches one."""
    _WATCHED.append((tmp_path / "inside").resolve())
    try:
        (tmp_path / "outside.txt").write_text("x")
    finally:
        _WATCHED.clear()
    assert _WRITES and "outside.txt" in _WRITES[0]
    _WRITES.clear()


HOSTILE = {
    "bomb": alias_bomb(random.Random(1), "", {}),
    "not-utf8": b"app: python\nname: caf\xe9\n",
    "digits": b"postgres: {max_connections: " + b"9" * 5001 + b"}\n",
    "deep": b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
    "escape-name": (ROOT / "scenarios" / "baseline.yaml").read_bytes() + b'name: "\\e[31mred"\n',
    "groups-5": (ROOT / "scenarios" / "baseline.yaml").read_bytes().replace(
        b"groups: {web.1: 4, worker.1: 2}", b"groups: 5"),
}


def test_hostile_files_exit_2_through_the_real_command(tmp_path: Path) -> None:
    """End to end, in parallel: each exits 2 with one printable line, no traceback."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    paths = [str(fifo), "/dev/zero"]
    for name, data in HOSTILE.items():
        (tmp_path / f"{name}.yaml").write_bytes(data)
        paths.append(str(tmp_path / f"{name}.yaml"))
    runs = {path: subprocess.Popen([sys.executable, "-m", "harness", "predict", path], cwd=tmp_path, text=True,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE) for path in paths}
    for path, proc in runs.items():
        out, err = proc.communicate(timeout=60)
        lines = err.splitlines()
        assert (proc.returncode, out) == (2, ""), (path, err)
        assert len(lines) == 1 and lines[0].startswith(f"connlab: {path}: ") and lines[0].isprintable(), err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Path(p).name for p in paths if p != "/dev/zero")

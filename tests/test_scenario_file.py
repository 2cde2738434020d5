"""The bounded scenario reader: each refusal is one exact line, and none of them hangs or swamps the machine."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from harness.errors import PlanError
from harness.plan import load_plan
from harness.scenario_file import MAX_BYTES, read_scenario
from tests.helpers import SMALL_SCENARIO

HANG_S = 5.0  # a hang detector, not a speed test: every refusal here takes milliseconds
GOOD = SMALL_SCENARIO


def refusal(path: Path) -> list[str]:
    """The problems ``load_plan(path)`` raises, read on a thread so that a hang fails the test instead of
    blocking it."""
    caught: list[BaseException] = []

    def read() -> None:
        try:
            load_plan(path)
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            caught.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(HANG_S)
    assert not reader.is_alive(), f"reading {path} did not finish in {HANG_S} s"
    assert caught and isinstance(caught[0], PlanError), caught
    problems = caught[0].problems
    assert all("\n" not in p and "\x1b" not in p for p in problems), problems
    return problems


def write(tmp_path: Path, data: str | bytes, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def test_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    os.mkfifo(path)
    assert refusal(path) == [f"{path}: is a FIFO, not a regular file; save the scenario to a file and give its path"]


def test_dev_zero_is_refused() -> None:
    assert refusal(Path("/dev/zero")) == [
        "/dev/zero: is a device, not a regular file; save the scenario to a file and give its path"]


def test_a_folder_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path) == [
        f"{tmp_path}: is a folder; give a scenario file (.yaml) or a shipped scenario's name"]


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "#" * MAX_BYTES + "\n")
    size = path.stat().st_size
    assert refusal(path) == [f"{path}: {size:,} bytes, too big for a scenario file (the limit is 1,000,000); "
                             "a scenario is a few KB of YAML"]


def test_non_utf8_text_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.encode() + b"description: caf\xe9\n")
    offset = len(GOOD) + len("description: caf")
    assert refusal(path) == [f"{path}: line 9: not UTF-8 text (byte 0xe9 at offset {offset}); save the file as UTF-8"]


def test_a_raw_escape_code_in_the_file_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "description: \x1b[31mred\n")
    assert refusal(path) == [f"{path}: line 9: a character YAML does not allow (#x001b); remove it, or write it as "
                             "an escape inside double quotes"]


def alias_bomb() -> str:
    """The classic one: nine levels of nine aliases, 9^9 strings once expanded, padded to 1,171 bytes."""
    lines = ['lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"lol{level}: &l{level} [{refs}]")
    text = "\n".join(lines) + "\n"
    return text + "#" * (1171 - len(text) - 1) + "\n"


def test_an_alias_bomb_fails_fast_in_one_line(tmp_path: Path) -> None:
    text = alias_bomb()
    assert len(text.encode()) == 1171
    path = write(tmp_path, text)
    began = time.monotonic()
    problems = refusal(path)
    assert time.monotonic() - began < HANG_S
    # lol5 is the first to expand past 100,000 values (1 + 9 x 66,430)
    assert problems == [f"{path}: line 6: expands to more than 100,000 values through its aliases (an alias bomb?); "
                        "write the values out"]


def test_too_many_aliases_and_a_loop_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "x: &x 1\nl: [" + ", ".join(["*x"] * 101) + "]\n")
    assert refusal(path) == [f"{path}: line 2: more than 100 aliases (*name); write the values out"]
    path = write(tmp_path, "a: &a [1, *a]\n", "loop.yaml")
    assert refusal(path) == [f"{path}: line 1: an alias inside the anchor it names (a loop); write the values out"]


def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  query_ms: 100\n", "  query_ms: 100\n  query_ms: 200\n"))
    assert refusal(path) == [f"{path}: line 8: the key 'query_ms' is given twice in one mapping (first on line 7); "
                             "keep one"]


def test_a_merge_key_may_be_overridden(tmp_path: Path) -> None:
    text = GOOD.replace("  web: {dynos: 1, processes: 1, threads: 2, pool: 2}",
                        "  web: {<<: {dynos: 1, processes: 1, threads: 2, pool: 2}, pool: 3}")
    assert load_plan(write(tmp_path, text)).web.pool == 3


def test_sexagesimal_and_octal_are_strings_so_not_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("users: 2", "users: 1:30").replace("query_ms: 100", "query_ms: 012"))
    assert refusal(path) == [f"{path}: traffic.stages[0].users: must be an integer >= 0, got '1:30'",
                             f"{path}: traffic.query_ms: must be an integer >= 0, got '012'"]
    assert read_scenario(write(tmp_path, "a: 1:30\nb: 1:30.5\nc: 0x1F\nd: 1_000\ne: 2.5\n", "n.yaml")) == \
        {"a": "1:30", "b": "1:30.5", "c": 31, "d": 1000, "e": 2.5}


def test_nan_and_infinity_are_no_figures(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("duration_s: 2", "duration_s: .inf") + "expect: {postgres: {peak: .nan}}\n")
    assert refusal(path) == [
        f"{path}: traffic.stages[0].duration_s: must be a finite number > 0 and <= 86400, got inf",
        f"{path}: expect.postgres.peak: must be a number from 0 to 1e+09, got nan",
    ]
    path = write(tmp_path, GOOD.replace("query_ms: 100", "query_ms: 100\n  enqueue_share: .nan"), "nan.yaml")
    assert refusal(path) == [
        f"{path}: traffic.enqueue_share: must be a finite number >= 0 and <= 1, got nan"]


def test_an_integer_of_5001_digits_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("max_connections: 20", "max_connections: " + "9" * 5001))
    assert refusal(path) == [f"{path}: line 2: an integer of 5,001 digits; no field takes one of more than 100"]


def test_deep_nesting_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "description: " + "[" * 10_000 + "]" * 10_000 + "\n")
    assert refusal(path) == [f"{path}: line 9: nested deeper than 50 levels"]
    path = write(tmp_path, "a: &a " + "[" * 45 + "]" * 45 + "\nb: " + "[" * 10 + "*a" + "]" * 10 + "\n", "alias.yaml")
    assert refusal(path) == [f"{path}: line 2: nested deeper than 50 levels once the alias is expanded"]


@pytest.mark.parametrize(("text", "line"), [
    ("a: 2024-13-45\n", "line 1: cannot read '2024-13-45' as timestamp (month must be in 1..12)"),
    ("a: !!int abc\n", "line 1: cannot read 'abc' as int (invalid literal for int() with base 10: 'abc')"),
    ("a: !!python/object:os.system x\n", "line 1: not valid YAML (could not determine a constructor for the tag "
                                         "'tag:yaml.org,2002:python/object:os.system')"),
    ("a: !!map [1]\n", "line 1: not valid YAML (expected a mapping node, but found sequence)"),
    ("a: [1\n", "line 2: not valid YAML (expected ',' or ']', but got '<stream end>')"),
])
def test_what_yaml_cannot_build_is_one_line(tmp_path: Path, text: str, line: str) -> None:
    path = write(tmp_path, text)
    assert refusal(path) == [f"{path}: {line}"]

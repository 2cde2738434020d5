"""Reading a scenario file that someone else wrote, without letting it swamp the machine or crash connlab.

``read_scenario(path)`` returns the parsed YAML, or raises ``PlanError`` with one
line naming the file and how to fix it. What it refuses, and why:

* a file that is not a regular file (``/dev/zero`` reads forever, a FIFO blocks
  until a writer comes): it is checked with ``stat`` before it is opened, and
  opened with ``O_NONBLOCK`` so one swapped in between cannot block either;
* a file over ``MAX_BYTES`` (no scenario is near it: the largest shipped one is
  about 2 KB), and text that is not UTF-8;
* in the YAML (``ScenarioLoader``, a ``yaml.SafeLoader``): a key given twice in
  one mapping (YAML would keep the last one silently), an alias expansion of
  more than ``MAX_NODES`` nodes or more than ``MAX_ALIASES`` alias uses (a
  1 KB alias bomb expands to billions of nodes when anything walks it), nesting
  deeper than ``MAX_DEPTH`` (the composer recurses: deep enough, Python's stack
  runs out), and an integer of more than ``MAX_INT_DIGITS`` digits (past 4,300
  Python refuses to convert it, with a ValueError);
* YAML 1.1's sexagesimal numbers (``1:30`` is 90) and leading-zero octals
  (``012`` is 10) are not numbers here: they stay strings, which validation
  then refuses as "must be a number".

Everything here is bounded by the file's size: the composer builds at most one
node per few bytes, and the expansion through aliases is counted as it is built.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.errors import PlanError
from harness.validate import SHOWN_CHARS, escaped, shown, shown_path

#: the largest scenario file read (the shipped ones are 1-2 KB)
MAX_BYTES = 1_000_000
#: the deepest nesting of mappings and lists (a scenario nests 4 levels)
MAX_DEPTH = 50
#: alias uses (``*name``) in one file
MAX_ALIASES = 100
#: nodes in the document once every alias is expanded (the shipped scenarios have under 200)
MAX_NODES = 100_000
#: digits in one integer (no field takes more than 7)
MAX_INT_DIGITS = 100

_INT = re.compile(r"""^(?:[-+]?0b[0-1_]+
                    |[-+]?(?:0|[1-9][0-9_]*)
                    |[-+]?0x[0-9a-fA-F_]+)$""", re.X)
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X)
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class Refusal(Exception):
    """Something in the YAML that the loader will not read: ``line`` (1-based, 0 when unknown) and why."""

    def __init__(self, line: int, text: str) -> None:
        self.line = line
        self.text = text
        super().__init__(f"line {line}: {text}")


def _line(node_or_event: Any) -> int:
    mark = getattr(node_or_event, "start_mark", None)
    return mark.line + 1 if mark is not None else 0


class ScenarioLoader(yaml.SafeLoader):
    """A SafeLoader that counts what it builds: depth, alias uses, expanded nodes; and refuses duplicate keys,
    huge integers and YAML 1.1's sexagesimal and octal numbers (see the module's docstring)."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in _NUMBER_TAGS]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        #: id(node) -> (nodes once expanded, height): filled as each node is finished, so an alias to an
        #: unfinished node is one inside its own anchor
        self._sizes: dict[int, tuple[int, int]] = {}

    def _next_line(self) -> int:
        return _line(self.peek_event())  # type: ignore[no-untyped-call]

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            line = self._next_line()
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise Refusal(line, f"more than {MAX_ALIASES} aliases (*name); write the values out")
            node = super().compose_node(parent, index)
            if node is None or id(node) not in self._sizes:
                raise Refusal(line, "an alias inside the anchor it names (a loop); write the values out")
            if self._depth + self._sizes[id(node)][1] > MAX_DEPTH:
                raise Refusal(line, f"nested deeper than {MAX_DEPTH} levels once the alias is expanded")
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise Refusal(self._next_line(), f"nested deeper than {MAX_DEPTH} levels")
        node = super().compose_node(parent, index)
        self._depth -= 1
        if node is None:
            return None
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        size = 1 + sum(self._sizes[id(child)][0] for child in children)
        height = 1 + max((self._sizes[id(child)][1] for child in children), default=0)
        if size > MAX_NODES:
            raise Refusal(_line(node), f"expands to more than {MAX_NODES:,} values through its aliases "
                          "(an alias bomb?); write the values out")
        self._sizes[id(node)] = (size, height)
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, Refusal):
            raise
        except Exception as exc:  # noqa: BLE001 - 2024-13-45, !!int abc, !!map [1]: the file's mistake, not ours
            raise Refusal(_line(node), f"cannot read {shown(node.value)} as {node.tag.rsplit(':', 1)[-1]} "
                          f"({escaped(str(exc))[:SHOWN_CHARS]})") from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value if isinstance(node, MappingNode) else ():  # else super() says what it is
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue  # a merge key (<<) brings defaults that keys beside it may override, as YAML means
            key = self.construct_object(key_node)
            if key in seen:
                raise Refusal(_line(key_node), f"the key {shown(key)} is given twice in one mapping (first on "
                              f"line {seen[key]}); keep one")
            seen[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        digits = sum(c.isalnum() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise Refusal(_line(node), f"an integer of {digits:,} digits; no field takes one of more than "
                          f"{MAX_INT_DIGITS}")
        return int(super().construct_yaml_int(node))


ScenarioLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
ScenarioLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
ScenarioLoader.add_constructor("tag:yaml.org,2002:int", ScenarioLoader.construct_yaml_int)


def read_text(path: Path) -> str:
    """The file's text: a regular file, at most ``MAX_BYTES``, UTF-8; else ``PlanError``, one line."""
    where = shown_path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PlanError([f"{where}: no such scenario file or shipped scenario; "
                         "`connlab scenarios` lists the shipped ones"]) from None
    except (OSError, ValueError) as exc:
        raise PlanError([f"{where}: cannot read it ({getattr(exc, 'strerror', None) or exc})"]) from None
    _check_kind(where, info)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise PlanError([f"{where}: cannot read it ({exc.strerror})"]) from None
    with os.fdopen(fd, "rb") as handle:
        _check_kind(where, os.fstat(handle.fileno()))  # the file opened is the one looked at
        try:
            data = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise PlanError([f"{where}: cannot read it ({exc.strerror})"]) from None
    if len(data) > MAX_BYTES:
        raise PlanError([f"{where}: over {MAX_BYTES:,} bytes, too big for a scenario file; "
                         "a scenario is a few KB of YAML"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PlanError([f"{where}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}); save the file as UTF-8"]) from None


def _check_kind(where: str, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise PlanError([f"{where}: is a folder; give a scenario file (.yaml) or a shipped scenario's name"])
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode) or \
            stat.S_ISBLK(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file"
        raise PlanError([f"{where}: is {kind}, not a regular file; save the scenario to a file and give its path"])
    if info.st_size > MAX_BYTES:
        raise PlanError([f"{where}: {info.st_size:,} bytes, too big for a scenario file (the limit is "
                         f"{MAX_BYTES:,}); a scenario is a few KB of YAML"])


def parse_text(text: str, path: Path) -> Any:
    """The YAML document in ``text`` (from ``path``, for the messages); ``PlanError``, one line, when it is not
    YAML or is refused."""
    where = shown_path(path)
    try:
        loader = ScenarioLoader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (an escape code, a NUL)
        line = text.count("\n", 0, exc.position) + 1
        raise PlanError([f"{where}: line {line}: a character YAML does not allow (#x{exc.character:04x}); remove it, "
                         "or write it as an escape inside double quotes"]) from None
    try:
        return loader.get_single_data()
    except Refusal as exc:
        raise PlanError([f"{where}: line {exc.line}: {exc.text}"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f"line {mark.line + 1}" if mark is not None else "somewhere"
        raise PlanError([f"{where}: {at}: not valid YAML ({escaped(exc.problem or str(exc))})"]) from None
    except yaml.YAMLError as exc:  # no mark: not expected from a string, kept one line all the same
        raise PlanError([f"{where}: not valid YAML ({escaped(' '.join(str(exc).split()))})"]) from None
    except RecursionError:  # cannot come past MAX_DEPTH; kept so that it would still be one line
        raise PlanError([f"{where}: nested too deeply to read"]) from None
    except (ValueError, TypeError, AttributeError, KeyError) as exc:  # PyYAML's constructors on odd tags
        raise PlanError([f"{where}: not valid YAML ({type(exc).__name__}: {escaped(str(exc))[:SHOWN_CHARS]})"]) \
            from None
    finally:
        loader.dispose()


def read_scenario(path: Path) -> Any:
    """Read ``path`` as a scenario file: its YAML document, or ``PlanError`` with one line."""
    return parse_text(read_text(path), path)

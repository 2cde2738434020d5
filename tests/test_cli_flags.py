"""The servers' flags of ``connlab compose`` and ``connlab check``, as users spell them, declared by the server
kinds' compose parts (``harness.compose.add_port_arguments``) and by harness/check/
(``harness.check.options.add_limit_arguments``), so that the CLI names no server (issue 17)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.check.options import LimitArguments, add_limit_arguments, limit_arguments
from harness.cli import _parser
from harness.compose import Ports, add_port_arguments, compose_document, ports_from
from harness.resources.compose_parts import COMPOSE_PARTS
from harness.resources.limits import LIMITS
from tests.test_compose import IMAGES, _plan


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings]  # noqa: SLF001


def test_every_server_kind_has_a_compose_part_and_its_port_flag() -> None:
    assert list(COMPOSE_PARTS) == list(LIMITS)  # the registry's order, every kind
    parser = argparse.ArgumentParser()
    add_port_arguments(parser)
    assert _flags(parser)[2:] == ["--postgres-port", "--redis-port", "--web-port"]


def test_the_compose_port_flags_as_before() -> None:
    args = _parser().parse_args(["compose", "baseline"])
    assert ports_from(args) == Ports(servers={"postgres": 15432, "redis": 16379}, web=18001)
    assert Ports().server("postgres") == 15432 and Ports().server("redis") == 16379  # each part's default
    args = _parser().parse_args(["compose", "baseline", "--postgres-port", "25432", "--redis-port", "26379",
                                 "--web-port", "28001"])
    assert ports_from(args) == Ports(servers={"postgres": 25432, "redis": 26379}, web=28001)


def test_the_ports_reach_the_document(tmp_path: Path) -> None:
    args = _parser().parse_args(["compose", "x", "--redis-port", "1234"])
    services = compose_document(_plan(tmp_path, dynos=1, workers=0), IMAGES, ports_from(args))["services"]
    assert services["postgres"]["ports"] == ["127.0.0.1:15432:5432"]
    assert services["redis"]["ports"] == ["127.0.0.1:1234:6379"]
    assert services["web-1"]["ports"] == ["127.0.0.1:18001:3000"]


def test_a_port_that_is_not_a_number_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        _parser().parse_args(["compose", "baseline", "--postgres-port", "x"])
    assert raised.value.code == 2 and "--postgres-port: invalid int value: 'x'" in capsys.readouterr().err


def test_the_check_limit_flags_as_before() -> None:
    parser = argparse.ArgumentParser()
    add_limit_arguments(parser)
    assert _flags(parser)[2:] == ["--postgres-max-connections", "--postgres-reserved", "--redis-maxclients"]
    args = _parser().parse_args(["check", "app"])
    assert limit_arguments(args) == LimitArguments(postgres_max_connections=None, postgres_reserved=None,
                                                   redis_maxclients=None)
    args = _parser().parse_args(["check", "app", "--postgres-max-connections", "60", "--postgres-reserved", "5",
                                 "--redis-maxclients", "40"])
    assert limit_arguments(args) == {"postgres_max_connections": 60, "postgres_reserved": 5, "redis_maxclients": 40}

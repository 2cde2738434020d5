"""A local Postgres from the template cluster (``harness.resources.postgres.template``): initdb once, a copy per run,
and every run's credentials its own."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from harness.resources.postgres import template
from harness.resources.postgres.server import PostgresServer

pytestmark = pytest.mark.e2e


def _system_identifier(pg: PostgresServer) -> int:
    return int(pg.admin.execute("select system_identifier from pg_control_system()")[0][0])


def _admits(pg: PostgresServer, password: str) -> bool:
    try:
        psycopg.connect(f"host=127.0.0.1 port={pg.port} user={template.SUPERUSER} password={password} "
                        f"dbname=postgres connect_timeout=2").close()
    except psycopg.OperationalError as error:
        assert "password authentication failed" in str(error)
        return False
    return True


def test_runs_copy_one_template_and_each_admits_only_its_own_password(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with PostgresServer(run_dir=tmp_path, max_connections=4, superuser_reserved_connections=0) as first:
        (folder,) = (tmp_path / "cache" / "connlab" / "postgres").iterdir()  # the first run published its cluster
        password = (folder / template.PASSWORD_FILE).read_text().strip()
        first_id = _system_identifier(first)
        assert _admits(first, first.superuser_password)
        assert not _admits(first, password), "the template's password no longer admits to a started copy"
    with PostgresServer(run_dir=tmp_path, max_connections=4, superuser_reserved_connections=0) as second:
        assert _system_identifier(second) == first_id, "the second run's cluster is a copy of the same template"
        assert second.superuser_password != first.superuser_password
        assert _admits(second, second.superuser_password)
        assert not _admits(second, password)
        assert not _admits(second, first.superuser_password)
        # the plan's limits come at start, not from the template: 4 for the apps, and the harness's own slot
        assert second.admin.execute("show max_connections") == [("5",)]
    assert list((tmp_path / "cache" / "connlab" / "postgres").iterdir()) == [folder], \
        "one template, no staging folder left"


def test_without_a_writable_cache_every_run_makes_its_own_cluster(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    ids = []
    for _ in range(2):
        with PostgresServer(run_dir=tmp_path, max_connections=3, superuser_reserved_connections=0) as pg:
            assert _admits(pg, pg.superuser_password)
            ids.append(_system_identifier(pg))
    assert ids[0] != ids[1], "two initdb's: two system identifiers"


def test_a_password_that_is_not_url_safe_base64_never_reaches_sql() -> None:
    from harness.stack.credentials import new_password, url_safe

    password = new_password()
    assert url_safe(password) == password
    with pytest.raises(ValueError, match="URL-safe base64"):
        url_safe("x' ; drop role postgres; --")

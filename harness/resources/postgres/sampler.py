"""Postgres' sampled count: ``pg_stat_activity`` rows per application_name, every ``SAMPLE_INTERVAL_S``, over
the harness's one admin connection (it reconnects after a restart)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol

from harness.collect import Sampler
from harness.ground.marks import UNNAMED
from harness.resources.postgres.limits import NAME


class AdminSql(Protocol):
    """What the Postgres sampler needs of the harness's admin connection: a query's rows, reconnecting as needed."""

    def execute(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]: ...


class PostgresSampler(Sampler):
    """Counts pg_stat_activity rows over the harness's one admin connection (it reconnects after a restart)."""

    QUERY = ("select coalesce(nullif(application_name, ''), %s), count(*) from pg_stat_activity "
             "where backend_type = 'client backend' and coalesce(state, 'starting') <> 'starting' "
             "and application_name not like 'connlab%%' group by 1")

    def __init__(self, admin: AdminSql) -> None:
        super().__init__(name=NAME)
        self.admin = admin

    def _sample(self) -> Counter[str]:
        return Counter({str(name): int(n) for name, n in self.admin.execute(self.QUERY, (UNNAMED,))})

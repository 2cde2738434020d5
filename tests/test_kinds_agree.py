"""``connlab predict`` (a scenario's plan) and ``connlab check`` (an app's process types) read the same kinds
(``harness.kinds``), so the same process gives the same figures on both: per kind, one web dyno or one worker
process, expected and worst case, at several sizes, with the hand-computed figures beside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.check.arith import Limits, figures
from harness.check.model import AppConfig, Pool, ProcessType, Setting
from harness.plan import parse_plan
from harness.predict import predict
from tests.helpers import ROOT

DATABASE = "postgres"


def _s(value: int) -> Setting:
    return Setting(value=value, source="test")


def _plan(app: str, web: dict[str, Any], *, worker: dict[str, Any] | None = None, orm: str = "",
          django: dict[str, Any] | None = None) -> Any:
    tiers: dict[str, Any] = {"web": {"dynos": 1, **web}}
    if worker is not None:
        tiers["worker"] = worker
    raw: dict[str, Any] = {
        "app": app, DATABASE: {"max_connections": 500, "superuser_reserved_connections": 0},
        "redis": {"maxclients": 500}, "tiers": tiers,
        "traffic": {"query_ms": 50, "enqueue_share": 0.5 if worker else 0.0,
                    "stages": [{"duration_s": 5, "users": 1}]},
    }
    if orm:
        raw["orm"] = orm
    if django is not None:
        raw["django"] = django
    return parse_plan(raw, Path("agree.yaml"))


def _predicted(plan: Any, group: str) -> tuple[int, int]:
    found = next(g for g in predict(plan).resource(DATABASE).groups if g.group == group)
    return found.expected, found.worst_case


def _checked(process: ProcessType) -> tuple[int, int]:
    app = AppConfig(framework="test", process_types=(process,))
    database = figures(app, {process.name: 1}, Limits(postgres_max_connections=500))[0]
    (figure,) = database.types
    return figure.expected, figure.worst_case


def _type(name: str, role: str, server: str, *, processes: int, threads: int, pool: Pool) -> ProcessType:
    return ProcessType(name=name, command=server, role=role, server=server, processes=_s(processes),
                       threads=_s(threads), pools=(pool,))


@pytest.mark.parametrize(("processes", "threads", "pool", "hand"), [
    (2, 3, 5, (6, 10)),   # 2 x min(3, 5), 2 x 5
    (3, 5, 2, (6, 6)),    # 3 x min(5, 2): threads starve, 3 x 2
    (1, 1, 5, (1, 5)),
])
def test_puma_on_active_record(processes: int, threads: int, pool: int, hand: tuple[int, int]) -> None:
    plan = _plan("rails", {"processes": processes, "threads": threads, "pool": pool})
    checked = _checked(_type("web", "web", "puma", processes=processes, threads=threads,
                             pool=Pool(database="primary", kind="activerecord", size=_s(pool))))
    assert _predicted(plan, "web.1") == checked == hand


@pytest.mark.parametrize(("processes", "pool", "hand"), [(3, 5, (3, 15)), (2, 1, (2, 2))])
def test_unicorn_one_thread_per_worker(processes: int, pool: int, hand: tuple[int, int]) -> None:
    plan = _plan("rails", {"processes": processes, "threads": 1, "pool": pool, "server": "unicorn"})
    checked = _checked(_type("web", "web", "unicorn", processes=processes, threads=1,
                             pool=Pool(database="primary", kind="activerecord", size=_s(pool))))
    assert _predicted(plan, "web.1") == checked == hand


@pytest.mark.parametrize(("processes", "threads", "pool", "hand"), [(2, 4, 4, (8, 8)), (2, 4, 2, (4, 4))])
def test_gunicorn_on_sqlalchemy(processes: int, threads: int, pool: int, hand: tuple[int, int]) -> None:
    plan = _plan("python", {"processes": processes, "threads": threads, "pool": pool})
    checked = _checked(_type("web", "web", "gunicorn", processes=processes, threads=threads,
                             pool=Pool(database="default", kind="sqlalchemy", size=_s(pool), overflow=_s(0))))
    assert _predicted(plan, "web.1") == checked == hand


@pytest.mark.parametrize(("django", "kind", "hand"), [
    ({"conn_max_age": 0}, "django-per-request", (6, 12)),      # 2 x 3 threads, 2 x 2 x 3 while closing
    ({"conn_max_age": 60}, "django-per-thread", (6, 6)),
    ({"pool": {"min_size": 4, "max_size": 4}}, "django-pool", (8, 8)),   # 2 x max(4, min(3, 4))
    ({"pool": {"min_size": 1, "max_size": 2}}, "django-pool", (4, 4)),   # 2 x max(1, min(3, 2))
])
def test_django_on_its_own_connections(django: dict[str, Any], kind: str, hand: tuple[int, int]) -> None:
    plan = _plan("python", {"processes": 2, "threads": 3, "pool": 5}, orm="django", django=django)
    pool = django.get("pool")
    checked = _checked(_type("web", "web", "gunicorn", processes=2, threads=3, pool=Pool(
        database="default", kind=kind, size=_s(pool["max_size"] if pool else 3),
        min_size=_s(pool["min_size"]) if pool else None)))
    assert _predicted(plan, "web.1") == checked == hand


@pytest.mark.parametrize(("concurrency", "pool", "hand"), [(5, 5, (5, 5)), (10, 4, (4, 4)), (3, 10, (3, 10))])
def test_sidekiq_server_on_active_record(concurrency: int, pool: int, hand: tuple[int, int]) -> None:
    plan = _plan("rails", {"processes": 1, "threads": 1, "pool": 1},
                 worker={"processes": 1, "concurrency": concurrency, "pool": pool})
    checked = _checked(_type("worker", "worker", "sidekiq", processes=1, threads=concurrency,
                             pool=Pool(database="primary", kind="activerecord", size=_s(pool))))
    assert _predicted(plan, "worker.1") == checked == hand


@pytest.mark.parametrize(("concurrency", "pool", "hand"), [(2, 2, (2, 2)), (4, 2, (2, 2))])
def test_dramatiq_on_sqlalchemy(concurrency: int, pool: int, hand: tuple[int, int]) -> None:
    plan = _plan("python", {"processes": 1, "threads": 1, "pool": 1},
                 worker={"processes": 1, "concurrency": concurrency, "pool": pool})
    checked = _checked(_type("worker", "worker", "dramatiq", processes=1, threads=concurrency,
                             pool=Pool(database="default", kind="sqlalchemy", size=_s(pool), overflow=_s(0))))
    assert _predicted(plan, "worker.1") == checked == hand


@pytest.mark.parametrize("workers", [1, 3])
def test_a_resque_style_worker_is_a_connection_per_running_child(workers: int) -> None:
    """check reads Resque as one process per worker, each one thread (``check.rails_workers``); predict as one
    forking process of C workers: C either way, with a pool of 5 that only waits."""
    plan = _plan("rails", {"processes": 1, "threads": 1, "pool": 1},
                 worker={"processes": 1, "concurrency": workers, "pool": 5, "kind": "forking"})
    checked = _checked(_type("worker", "worker", "resque", processes=workers, threads=1,
                             pool=Pool(database="primary", kind="activerecord", size=_s(1))))
    assert _predicted(plan, "worker.1") == checked == (workers, workers)


def test_a_one_off_holds_one_connection_whatever_its_pool() -> None:
    oneoff = ProcessType(name="console", command="rails console", role="oneoff", server="rake", processes=_s(1),
                         threads=_s(5), pools=(Pool(database="primary", kind="activerecord", size=_s(5)),))
    assert _checked(oneoff) == (1, 1)


@pytest.mark.parametrize(("app", "kind", "name", "title"), [
    ("rails", "threaded", "sidekiq", "Sidekiq"), ("rails", "forking", "resque", "Resque-style"),
    ("python", "threaded", "dramatiq", "dramatiq"), ("python", "forking", "rq", "RQ"),
])
def test_one_worker_kind_names_the_formula_the_title_and_the_apps_job_library(app: str, kind: str, name: str,
                                                                              title: str) -> None:
    """The worker tier's kind (``harness.kinds.workers``) is the one the prediction counts (its title on the
    worker's groups) and the job library the sample app runs (``CONNLAB_JOBS``)."""
    from harness.stack.apps import Endpoints, worker_settings

    plan = _plan(app, {"processes": 1, "threads": 1, "pool": 1},
                 worker={"processes": 1, "concurrency": 2, "pool": 2, "kind": kind})
    assert {g.kind for g in predict(plan).resource("redis").groups if g.tier == "worker"} == {title}
    assert {g.kind for g in predict(plan).resource(DATABASE).groups if g.tier == "worker"} == {title}
    assert worker_settings(plan, Endpoints(variables={}), process=1)["CONNLAB_JOBS"] == name


def test_the_django_kind_gives_the_settings_the_twin_reads() -> None:
    """The twin's Django web reads CONNLAB_ORM, CONNLAB_CONN_MAX_AGE and CONNLAB_DJANGO_POOL_{MIN,MAX,TIMEOUT_S}
    (stacks/python/connlab_twin/config.py, django_app.py); the kind gives them, and a web without Django gets none."""
    from harness.stack.apps import Endpoints, web_settings

    twin = "".join((ROOT / "stacks" / "python" / "connlab_twin" / name).read_text()
                   for name in ("config.py", "django_app.py"))
    pooled = _plan("python", {"processes": 1, "threads": 3, "pool": 3}, orm="django",
                   django={"conn_max_age": 0, "pool": {"min_size": 1, "max_size": 2, "timeout_s": 0.5}})
    given = {k: v for k, v in web_settings(pooled, Endpoints(variables={}), dyno=1, port=1).items()
             if k.startswith(("CONNLAB_ORM", "CONNLAB_CONN_MAX_AGE", "CONNLAB_DJANGO"))}
    assert given == {"CONNLAB_ORM": "django", "CONNLAB_CONN_MAX_AGE": "0", "CONNLAB_DJANGO_POOL_MIN": "1",
                     "CONNLAB_DJANGO_POOL_MAX": "2", "CONNLAB_DJANGO_POOL_TIMEOUT_S": "0.5"}
    assert all(name in twin for name in given)
    plain = _plan("python", {"processes": 1, "threads": 3, "pool": 3})
    assert not any(k.startswith(("CONNLAB_ORM", "CONNLAB_DJANGO"))
                   for k in web_settings(plain, Endpoints(variables={}), dyno=1, port=1))


# The Redis side: check builds each process's Redis uses with its readers (check.rails_redis, check.py_redis) from
# the same kinds predict's groups come from (resources/redis/demand).

def _predicted_redis(plan: Any, group: str, versions: dict[str, str] | None = None) -> tuple[int, int]:
    found = next(g for g in predict(plan, versions=versions).resource("redis").groups if g.group == group)
    return found.expected, found.worst_case


def _checked_redis(process: ProcessType) -> tuple[int, int]:
    app = AppConfig(framework="test", process_types=(process,))
    redis = figures(app, {process.name: 1}, Limits(postgres_max_connections=500, redis_maxclients=500))[1]
    (figure,) = redis.types
    return figure.expected, figure.worst_case


def _rails_uses() -> Any:
    from harness.check.rails_uses import CacheStore, Uses

    return Uses(cache=CacheStore(store="file_store", where="default"), cable="", cable_where="", queue="sidekiq",
                queue_where="test")


def _with_redis(process: ProcessType, redis: tuple[Any, ...]) -> ProcessType:
    from dataclasses import replace

    return replace(process, redis=redis)


@pytest.mark.parametrize(("sidekiq", "concurrency", "hand"), [
    ("6.4.1", 5, (6, 10)),    # C + 1 (a BRPOP per processor, the heartbeat), C + 5 (the server pool)
    ("6.4.1", 2, (3, 7)),
    ("7.3.9", 5, (6, 15)),    # C + 1 (the capsule's C, the heartbeat), C + 10 (capsule C + internal pool 10)
    ("7.3.9", 3, (4, 13)),
])
def test_a_sidekiq_server_on_redis_by_its_major(sidekiq: str, concurrency: int, hand: tuple[int, int]) -> None:
    from harness.check.rails_redis import redis_uses

    versions = {"sidekiq": sidekiq}
    plan = _plan("rails", {"processes": 1, "threads": 1, "pool": 1},
                 worker={"processes": 1, "concurrency": concurrency, "pool": concurrency})
    process = _type("worker", "worker", "sidekiq", processes=1, threads=concurrency,
                    pool=Pool(database="primary", kind="activerecord", size=_s(concurrency)))
    process = _with_redis(process, redis_uses(process, _rails_uses(), versions, {}, None))
    assert _predicted_redis(plan, "worker.1", versions) == _checked_redis(process) == hand


@pytest.mark.parametrize(("sidekiq", "threads", "hand"), [
    ("6.4.1", 3, (1, 3)),   # Sidekiq 6's client pool: RAILS_MAX_THREADS = T; 1 when enqueues do not overlap
    ("7.3.9", 3, (1, 3)),   # Sidekiq 7's internal pool of 10, bounded by the T threads that enqueue
    ("7.3.9", 12, (1, 10)),
])
def test_a_rails_web_enqueuing_through_the_sidekiq_client(sidekiq: str, threads: int, hand: tuple[int, int]) -> None:
    from harness.check.rails_redis import redis_uses

    versions = {"sidekiq": sidekiq}
    plan = _plan("rails", {"processes": 1, "threads": threads, "pool": threads},
                 worker={"processes": 1, "concurrency": 1, "pool": 1})
    process = _type("web", "web", "puma", processes=1, threads=threads,
                    pool=Pool(database="primary", kind="activerecord", size=_s(threads)))
    process = _with_redis(process, redis_uses(process, _rails_uses(), versions,
                                              {"RAILS_MAX_THREADS": str(threads)}, None))
    assert _predicted_redis(plan, "web.1", versions) == _checked_redis(process) == hand


@pytest.mark.parametrize(("workers", "hand"), [(1, (3, 4)), (3, (9, 12))])
def test_an_rq_worker_on_redis(workers: int, hand: tuple[int, int]) -> None:
    """predict counts a forking tier of C RQ workers as one group; check reads ``rq worker`` processes, C of them:
    3 each (the fetch connection, the pubsub thread, the running horse's), 4 while a horse records its result."""
    from harness.check.py_redis import Uses, redis_for

    plan = _plan("python", {"processes": 1, "threads": 1, "pool": 1},
                 worker={"processes": 1, "concurrency": workers, "pool": 1, "kind": "forking"})
    process = _type("worker", "worker", "rq", processes=workers, threads=1,
                    pool=Pool(database="default", kind="sqlalchemy", size=_s(1), overflow=_s(0)))
    process = _with_redis(process, redis_for(process, Uses(rq="test"))[0])
    assert _predicted_redis(plan, "worker.1") == _checked_redis(process) == hand


@pytest.mark.parametrize(("threads", "hand"), [(2, (1, 4)), (5, (1, 7))])
def test_a_dramatiq_worker_on_redis(threads: int, hand: tuple[int, int]) -> None:
    from harness.check.py_redis import Uses, redis_for

    plan = _plan("python", {"processes": 1, "threads": 1, "pool": 1},
                 worker={"processes": 1, "concurrency": threads, "pool": threads})
    process = _type("worker", "worker", "dramatiq", processes=1, threads=threads,
                    pool=Pool(database="default", kind="sqlalchemy", size=_s(threads), overflow=_s(0)))
    process = _with_redis(process, redis_for(process, Uses(dramatiq="test"))[0])
    assert _predicted_redis(plan, "worker.1") == _checked_redis(process) == hand


@pytest.mark.parametrize("workers", [1, 3])
def test_a_resque_style_worker_on_redis(workers: int) -> None:
    """2 per worker (its BLPOP connection, kept; its running child's own): predict's forking Rails tier of C
    workers, check's C ``resque`` processes."""
    from harness.check.rails_redis import redis_uses

    plan = _plan("rails", {"processes": 1, "threads": 1, "pool": 1},
                 worker={"processes": 1, "concurrency": workers, "pool": 5, "kind": "forking"})
    process = _type("worker", "worker", "resque", processes=workers, threads=1,
                    pool=Pool(database="primary", kind="activerecord", size=_s(1)))
    process = _with_redis(process, redis_uses(process, _rails_uses(), {}, {}, None))
    assert _predicted_redis(plan, "worker.1") == _checked_redis(process) == (2 * workers, 2 * workers)

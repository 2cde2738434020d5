"""connlab check's arithmetic and options, on hand-built app configs with hand-computed figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.check.arith import Limits, figures, pgbouncer_advice, pool_advice, pool_figures, sweep
from harness.check.model import AppConfig, Pool, ProcessType, RedisUse, Setting
from harness.check.options import gather
from harness.errors import PlanError


def s(value: int, source: str = "test") -> Setting:
    return Setting(value=value, source=source)


def rails_app() -> AppConfig:
    primary = Pool(database="primary", kind="activerecord", size=s(5))
    web = ProcessType(name="web", command="bundle exec puma", role="web", server="puma", processes=s(2),
                      threads=s(3), pools=(primary,))
    worker = ProcessType(name="worker", command="bundle exec sidekiq", role="worker", server="sidekiq",
                         processes=s(1), threads=s(10),
                         pools=(Pool(database="primary", kind="activerecord", size=s(10)),),
                         redis=(RedisUse(what="Sidekiq server", expected=s(11), worst=s(20)),))
    release = ProcessType(name="release", command="rails db:migrate", role="release", server="rake",
                          processes=s(1), threads=s(1), pools=(primary,))
    return AppConfig(framework="rails", process_types=(web, worker, release))


def test_formation_figures_per_type_and_resource() -> None:
    postgres, redis = figures(rails_app(), {"web": 4, "worker": 2}, Limits(postgres_max_connections=120))
    by_type = {t.name: (t.expected, t.worst_case) for t in postgres.types}
    # web: 4 dynos x 2 processes x min(3 threads, pool 5) = 24; worst 4 x 2 x 5 = 40
    # worker: 2 x 1 x min(10, 10) = 20, worst 20
    assert by_type == {"web": (24, 40), "worker": (20, 20)}
    assert (postgres.expected, postgres.worst_case, postgres.capacity, postgres.status) == (44, 60, 117, "fits")
    # release runs during deploys only: 1 x 1 x min(1, 5), apart from the total
    assert postgres.release is not None and postgres.release.expected == 1
    # Redis: Sidekiq's rule per process, 2 x 11 and 2 x 20; no limit given: no status
    assert (redis.expected, redis.worst_case, redis.status) == (22, 40, "no limit given")


def test_sweep_finds_the_largest_count_that_fits_and_the_first_that_exhausts() -> None:
    # capacity 60 - 3 = 57; expected 6n + 20, worst 10n + 20: fits while 10n <= 37 (n <= 3), exhausts once 6n > 37
    swept = sweep(rails_app(), {"worker": 2}, Limits(postgres_max_connections=60), process_type="web", low=2, high=10)
    assert [p.postgres.expected for p in swept.points] == [6 * n + 20 for n in range(2, 11)]
    assert swept.largest_fitting("postgres") == 3
    assert swept.first_exhausting("postgres") == 7
    assert [p.postgres.status for p in swept.points][2:5] == ["at-risk"] * 3  # n = 4, 5, 6
    top = swept.points[-1].postgres
    # at 10 dynos: every pool full is 120 clients; busy 80, more than the capacity: the server pool is capped at 57
    assert "max_client_conn >= 120" in pgbouncer_advice(top) and "server pool of 57" in pgbouncer_advice(top)


def test_pool_advice_says_pool_equals_threads() -> None:
    advice = pool_advice(rails_app())
    assert advice == ["web (primary): pool 5 > 3 threads: 2 connection(s) per process only wait; pool 3 is enough"]


@pytest.mark.parametrize(("pool", "threads", "figures_"), [
    (Pool(database="d", kind="activerecord", size=s(5)), 8, (5, 5)),
    (Pool(database="d", kind="sqlalchemy", size=s(5), overflow=s(10)), 4, (4, 15)),
    (Pool(database="d", kind="django-per-thread", size=s(4)), 4, (4, 4)),
    (Pool(database="d", kind="django-pool", size=s(4), min_size=s(2)), 1, (2, 4)),
    (Pool(database="d", kind="django-pool", size=s(4), min_size=s(2)), 8, (4, 4)),
    # held: a process tree's summed connections (Solid Queue's), whatever the threads; overflow the extra at worst
    (Pool(database="d", kind="held", size=s(11), overflow=s(0)), 3, (11, 11)),
    (Pool(database="d", kind="held", size=s(3), overflow=s(2)), 9, (3, 5)),
])
def test_pool_kinds(pool: Pool, threads: int, figures_: tuple[int, int]) -> None:
    assert pool_figures(pool, threads)[:2] == figures_


def test_options_from_flags_and_the_file_beside_the_app(tmp_path: Path) -> None:
    (tmp_path / "connlab.yaml").write_text(
        "formation: {web: 4, worker: 2}\nautoscale: {web: 2..10}\npostgres: {max_connections: 120}\n"
        "redis: {maxclients: 40}\nenv: {RAILS_MAX_THREADS: 5}\nset: {web.pool: 5}\n")
    options = gather(tmp_path, formation="web=6", autoscale=None, postgres_max_connections=None,
                     postgres_reserved=None, redis_maxclients=None, env=["WEB_CONCURRENCY=3"], env_files=[],
                     sets=[])
    assert options.formation == {"web": 6, "worker": 2}  # the flag wins for web
    assert options.autoscale is not None and (options.autoscale.low, options.autoscale.high) == (2, 10)
    assert options.limits.postgres_capacity == 117 and options.limits.redis_maxclients == 40
    assert options.env == {"RAILS_MAX_THREADS": "5", "WEB_CONCURRENCY": "3"}
    assert options.flags == {"web.pool": 5}


def test_bad_options_are_each_one_line(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        gather(tmp_path, formation="web=four,worker", autoscale="web=10..2", postgres_max_connections=0,
               postgres_reserved=None, redis_maxclients=None, env=["NOEQUALS"], env_files=[], sets=["web.pool=x"])
    assert caught.value.problems == [
        "--formation: 'worker' is not NAME=VALUE (e.g. web=4,worker=2)",
        "formation web: 'four' is not a whole number",
        "autoscale web: 10..2 must go from 1 or more up to at least its start",
        "postgres max_connections: 0 is below 1",
        "--env 'NOEQUALS': must be NAME=VALUE",
        "--set web.pool: 'x' is not a whole number",
    ]


def test_an_unknown_figure_makes_the_result_incomplete_never_fits() -> None:
    from harness.check.model import unknown

    app = rails_app()
    web = app.process_types[0]
    pool = Pool(database="primary", kind="activerecord",
                size=unknown(source="config/database.yml:3: NameError", fix="--set web.pool=N"))
    broken = AppConfig(framework="rails", process_types=(ProcessType(**{**vars(web), "pools": (pool,)}),
                                                         *app.process_types[1:]))
    postgres, redis = figures(broken, {"web": 4, "worker": 2}, Limits(postgres_max_connections=120))
    # the unknown pool counts at its least, 1: web 4 x 2 x min(3, 1) = 8, + worker 20 = 28, far below 117
    assert (postgres.expected, postgres.status) == (28, "incomplete")
    assert postgres.missing == ("web.pool (--set web.pool=N)",)
    assert redis.status == "no limit given" and redis.missing == ()  # the web's pool is not on Redis
    # no web dynos: the unknown figure enters no total, so the result is whole again
    postgres, _ = figures(broken, {"web": 0, "worker": 2}, Limits(postgres_max_connections=120))
    assert (postgres.status, postgres.missing) == ("fits", ())
    # at its least the count already exhausts (28 > 27): exhausts, for certain
    postgres, _ = figures(broken, {"web": 4, "worker": 2}, Limits(postgres_max_connections=30))
    assert postgres.status == "exhausts"
    # the sweep never calls an incomplete point fitting
    swept = sweep(broken, {"worker": 2}, Limits(postgres_max_connections=120), process_type="web", low=1, high=3)
    assert swept.largest_fitting("postgres") is None and pool_advice(broken) == []


def _web_with_a_tree(tree_pool: Pool | None = None) -> AppConfig:
    """A web (2 Puma processes x 3 threads, pool 5) with Solid Queue's supervisor tree beside it (plugin
    :solid_queue): one tree per dyno, its connections held (queue 11; its worker's jobs 3 on the primary, 5 at
    worst), a broadcast client on Redis."""
    queue = tree_pool or Pool(database="queue", kind="held", size=s(11), overflow=s(0))
    tree = ProcessType(name="web/solid_queue", command="plugin :solid_queue", role="worker", server="solid_queue",
                       processes=s(1), threads=s(3),
                       pools=(Pool(database="primary", kind="held", size=s(3), overflow=s(2)), queue),
                       redis=(RedisUse(what="ActionCable (redis)", expected=s(0), worst=s(1)),))
    web = ProcessType(name="web", command="bundle exec puma", role="web", server="puma", processes=s(2),
                      threads=s(3), pools=(Pool(database="primary", kind="activerecord", size=s(5)),),
                      redis=(RedisUse(what="Sidekiq client", expected=s(1), worst=s(3)),), beside=(tree,))
    return AppConfig(framework="rails", process_types=(web,))


def test_a_tree_beside_a_type_counts_once_per_dyno_of_it() -> None:
    postgres, redis = figures(_web_with_a_tree(), {"web": 3}, Limits(postgres_max_connections=100))
    by_type = {t.name: (t.dynos, t.processes, t.expected, t.worst_case) for t in postgres.types}
    # web: 3 dynos x 2 processes x min(3, 5) = 18, worst 3 x 2 x 5 = 30; the tree: 3 dynos x 1 x (3 + 11) = 42, worst
    # 3 x (5 + 11) = 48, not x 2 Puma processes
    assert by_type == {"web": (3, 2, 18, 30), "web/solid_queue": (3, 1, 42, 48)}
    assert (postgres.expected, postgres.worst_case) == (60, 78)
    # Redis: web 3 x 2 x (1 .. 3) = 6 .. 18; the tree 3 x 1 x (0 .. 1) = 0 .. 3
    assert {t.name: (t.expected, t.worst_case) for t in redis.types} == {"web": (6, 18), "web/solid_queue": (0, 3)}
    # no web dyno: no tree either
    postgres, redis = figures(_web_with_a_tree(), {"web": 0}, Limits(postgres_max_connections=100))
    assert (postgres.expected, redis.expected) == (0, 0)
    # the sweep adds a tree with each dyno: 20 a dyno (6 + 14)
    swept = sweep(_web_with_a_tree(), {}, Limits(postgres_max_connections=100), process_type="web", low=1, high=4)
    assert [p.postgres.expected for p in swept.points] == [20, 40, 60, 80]


def test_an_unknown_figure_in_a_tree_beside_makes_the_result_incomplete() -> None:
    from harness.check.model import unknown

    queue = Pool(database="queue", kind="held", overflow=s(0),
                 size=unknown(source="config/database.yml: queue pool", fix="--set web.pool=N"))
    postgres, _ = figures(_web_with_a_tree(queue), {"web": 1}, Limits(postgres_max_connections=100))
    assert postgres.status == "incomplete"
    assert postgres.missing == ("web/solid_queue.pool (queue) (--set web.pool=N)",)

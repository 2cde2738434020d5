"""Error kinds from the messages the real apps produced here (see the helpers' measurements in the README)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.observation import LoadResult, Observation, ResourceObservation
from harness.plan import parse_plan
from harness.predict import forecast
from harness.verdict import classify_error, judge

CASES = [
    ("ActiveRecord::ConnectionTimeoutError", "could not obtain a connection from the pool within N.N seconds "
     "(waited N.N seconds); all pooled connections were in use", "pool_timeout"),
    ("sqlalchemy.exc.TimeoutError", "QueuePool limit of size N overflow N reached, connection timed out, "
     "timeout N.N", "pool_timeout"),
    ("ActiveRecord::ConnectionNotEstablished", 'connection to server at "N.N.N.N", port N failed: FATAL:  '
     "remaining connection slots are reserved for roles with the SUPERUSER attribute", "server_full"),
    ("sqlalchemy.exc.OperationalError", '(psycopg.OperationalError) connection failed: connection to server at '
     '"N.N.N.N", port N failed: FATAL:  sorry, too many clients already', "server_full"),
    ("redis.exceptions.ConnectionError", "max number of clients reached", "redis_full"),
    ("Redis::CommandError", "ERR max number of clients reached", "redis_full"),
    ("ActiveRecord::StatementInvalid", "PG::ConnectionBad: PQconsumeInput() FATAL:  terminating connection due "
     "to administrator command", "connection_lost"),
    ("PG::ConnectionBad", "PQconsumeInput() SSL error: decryption failed or bad record mac", "connection_lost"),
    ("PG::UnableToSend", 'lost synchronization with server: got message type "x", length N', "connection_lost"),
    ("sqlalchemy.exc.OperationalError", "(psycopg.OperationalError) consuming input failed: SSL error: "
     "unexpected eof while reading", "connection_lost"),
    ("ActiveRecord::ConnectionNotEstablished", 'connection to server at "N.N.N.N", port N failed: Connection '
     "refused", "connection_lost"),
    ("ArgumentError", 'invalid value for Integer(): "abc"', "other"),
    ("HTTP 500", "", "other"),
]


@pytest.mark.parametrize(("error_class", "message", "kind"), CASES)
def test_kinds_of_real_messages(error_class: str, message: str, kind: str) -> None:
    assert classify_error(error_class, message) == kind


def _observation(text: str, *, peak: int, by_group: dict[str, int], rejected: int = 0) -> Observation:
    plan = parse_plan(yaml.safe_load(text), Path("s.yaml"))
    seen = ResourceObservation(name="postgres", peak=peak, peak_method="log-events", sampled_peak=peak,
                               rejected=rejected, by_group=by_group)
    idle = ResourceObservation(name="redis", peak=0, peak_method="sampled", sampled_peak=0, rejected=0, by_group={})
    return Observation(plan=plan, forecast=forecast(plan), run_dir=Path("."), resources=(seen, idle),
                       load=LoadResult(total=10, failed=0, errors=(), failures_per_second={}), job_errors=(),
                       events=(), startup_s={}, stack_up_s=0.0, duration_s=0.0)


PLAN = """
app: python
postgres: {max_connections: 100, superuser_reserved_connections: 3}
redis: {maxclients: 50}
tiers:
  web: {dynos: 3, processes: 2, threads: 5, pool: 5}
traffic:
  query_ms: 500
  stages: [{duration_s: 5, users: USERS}]
"""


def test_a_short_peak_names_the_expected_count_and_too_few_users() -> None:
    verdict = judge(_observation(PLAN.replace("USERS", "20"), peak=20, by_group={"web.1": 7, "web.2": 7,
                                                                                "web.3": 6}))
    assert verdict.notes == ("postgres: the apps held 20 of the 30 expected connections at once; too few users "
                             "to keep every thread busy (20 users, 30 web threads)",)


def test_a_short_peak_with_enough_users_names_the_groups_short_of_their_count() -> None:
    verdict = judge(_observation(PLAN.replace("USERS", "60"), peak=27, by_group={"web.1": 10, "web.2": 10,
                                                                                "web.3": 7}))
    assert verdict.notes == ("postgres: the apps held 27 of the 30 expected connections at once; requests spread "
                             "unevenly over the processes, groups short of their expected count: web.3 7 of 10",)


def test_a_full_peak_needs_no_note() -> None:
    verdict = judge(_observation(PLAN.replace("USERS", "60"), peak=30, by_group={"web.1": 10, "web.2": 10,
                                                                                "web.3": 10}))
    assert verdict.notes == () and verdict.prediction_held


def test_refusals_below_capacity_cite_the_measured_held_slots_only_with_reserved_slots() -> None:
    over = PLAN.replace("USERS", "60").replace("max_connections: 100", "max_connections: 28")  # capacity 25 < 30
    verdict = judge(_observation(over, peak=24, by_group={"web.1": 8, "web.2": 8, "web.3": 8}, rejected=9))
    assert verdict.notes == ("postgres: refused connections although its peak (24) stayed below capacity (25); "
                             "with reserved slots a refused attempt holds a slot until its backend exits (measured: "
                             "with ~450 refused attempts a second, 730 reconnects into a free slot met 576 "
                             "refusals)",)
    none_reserved = over.replace("superuser_reserved_connections: 3", "superuser_reserved_connections: 0")
    verdict = judge(_observation(none_reserved, peak=27, by_group={"web.1": 9, "web.2": 9, "web.3": 9},
                                 rejected=9))
    assert verdict.notes == ("postgres: refused connections although its peak (27) stayed below capacity (28)",)

"""Error kinds from the messages the real apps produced here (see the helpers' measurements in the README)."""

from __future__ import annotations

import pytest

from harness.verdict import classify_error

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

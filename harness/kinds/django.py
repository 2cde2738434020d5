"""Django's own connections on Postgres: a gunicorn web process of the twin with ``orm: django``.

Django (``orm: django``: the twin's web tier under Django's own WSGI handler,
its request cycle deciding how long a connection lives; the worker tier stays
dramatiq or RQ over SQLAlchemy), per web process, T threads. Django's
connections are per thread and a request keeps its connection to its end
(``work_ms`` included), so a thread holds at most one; ``tiers.web.pool`` is
not Django's::

    CONN_MAX_AGE 0     expected = T, worst = 2T. The first query of a request
                       connects, request_finished closes: T busy at once, a
                       new session per request (churn). The server counts a
                       closed session until its backend has exited, and now
                       and then that is after the same thread's next session
                       was authorized: T + 1, up to T + T (every thread's
                       previous session still exiting)
    CONN_MAX_AGE N > 0 expected = worst = T: one per thread, opened once, kept
                       (closed and reopened by a request N s after it opened)
    OPTIONS["pool"]    expected = max(min_size, min(T, max_size)),
                       worst = max(min_size, max_size), max_size where the
                       plan has checked min_size <= max_size. Django opens the pool (psycopg_pool,
                       one per process) at the first query, and it opens
                       min_size at once, busy or not; it lends at most
                       max_size, a thread beyond that waits ``timeout`` s and
                       gets PoolTimeout (starvation: T > max_size). A cold
                       pool also grows past min_size when the first requests
                       ask before its min_size are up (growing one at a time
                       while a request waits: up to min(max_size, min_size + T))

No /db traffic opens nothing (the pool too opens at the first query). Measured
(Django 5.2.19, psycopg 3.3.9, psycopg_pool 3.3.3, Postgres 18.6, ``connlab
run``; 1 x 2 x 3, 9 users, 500 ms queries for 4 s unless said; sessions opened
counted from the log's ``connection authorized`` lines)::

    CONN_MAX_AGE 0     peak 6 in 12 of 19 runs, 7 in 7 (most at load 4-5 on 2
                       cores); 48-51 opened for 42 requests: one per request
                       (django-conn-max-age-0). At max_connections 6, no
                       reserved slot, exactly the 6 threads: "too many
                       clients" in 4 of 10 runs (1-5 refusals)
    CONN_MAX_AGE 60    peak 6, 6 opened, 9 of 9 runs (django-persistent); at
                       max_connections 6: no refusal in 6 of 6 runs
    pool 4..4          peak 8, 8 opened, 8 of 8 runs (django-pool)
    pool 2..6          peak 7 in 3 of 5 runs, 8 in 2 (expected 6): the cold
                       pools grew past min_size
    pool 1..2, T = 4   1 x 1 x 4, timeout 0.5 s, 1 s queries: peak 2, 2 opened,
                       9-11 PoolTimeouts, 8 of 8 runs (django-pool-timeout)
    no pool, over      2 x 2 x 3 against capacity 8: peak 8, 170-369 refused,
                       every error "too many clients", 8 of 8
                       (django-too-many-clients); the same with pool 2..2:
                       peak 8, no refusal, no error, 2 of 2
    pool 1..3, over    the same 2 x 2 x 3: peak 8, 6-9 refused and as many
                       PoolTimeouts, never "too many clients", 6 of 6 runs
                       (django-pool-server-full): the pool connects in the
                       background and retries a refusal, the waiting request
                       times out. One dyno's pools grew to 3 + 3, the other's
                       stayed at 1 + 1, and only that dyno's log names the
                       cause: psycopg_pool's warning "error connecting in
                       'pool-1': ... too many clients already", 6-9 times.
                       With the pool's timeout at 1 s (2 x the 500 ms query)
                       the timeouts came only when a process's pool stayed at
                       1 for its 3 threads (the third waits 2 x 500 ms): with
                       the 8 slots split 4 + 4 (every pool at 2, a wait of at
                       most 500 ms) none came, 1 in 3 runs here and in CI
                       under load. At 0.4 s, below one query, a thread that
                       waits at all times out: 23-30 PoolTimeouts, 9-12
                       refused, peak 8, in 4 of 4 runs, the 4 + 4 split too

``--backend docker`` (Django 5.2.19 vendored, Debian's psycopg 3.2.6 and
psycopg_pool, Postgres 17): the six scenarios once each, the same figures.
"""

from __future__ import annotations

from harness.kinds.demand import Demand, counted

#: What the report and the demo call this kind.
TITLE = "Django"


def connections_postgres(*, threads: int, conn_max_age: float | None) -> Demand:
    """Django without a pool: a connection per thread (module docstring)."""
    t = threads
    if conn_max_age == 0:
        return Demand(expected=t, worst=2 * t,
                      formula=f"{counted(t, 'thread')} (a session per request; 2 x {t} while closing)")
    return Demand(expected=t, worst=t, formula=f"{counted(t, 'thread')} (a connection each)")


def pool_postgres(*, threads: int, min_size: int, max_size: int) -> Demand:
    """Django's native pool (module docstring)."""
    return Demand(expected=max(min_size, min(threads, max_size)), worst=max(min_size, max_size),
                  formula=f"max(min_size {min_size}, min({counted(threads, 'thread')}, max_size {max_size}))")


def app_settings(*, conn_max_age: float | None, min_size: int | None = None, max_size: int | None = None,
                 timeout_s: float | None = None) -> dict[str, object]:
    """What the twin's web process needs to run under Django (its ``CONNLAB_*`` settings, stacks/CONTRACT.md):
    ``orm``, ``conn_max_age`` and, with the native pool, its min_size, max_size and timeout."""
    extra: dict[str, object] = {"orm": "django", "conn_max_age": conn_max_age}
    if max_size is not None:
        extra.update(django_pool_min=min_size, django_pool_max=max_size, django_pool_timeout_s=timeout_s)
    return extra

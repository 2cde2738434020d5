"""connlab's Python twin: a tiny web + job app that exhausts connections on cue.

It implements stacks/CONTRACT.md with gunicorn (gthread), SQLAlchemy 2 over
psycopg 3, redis-py and dramatiq, so connlab's harness can drive it exactly as
it drives the Rails app. Every module here is small on purpose: the point is
to make each process's connection pools easy to see and to count.
"""

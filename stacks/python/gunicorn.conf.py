"""gunicorn settings for one web dyno of the Python twin (bin/web).

Loaded by the gunicorn master, so it reads the settings (exit 2 on a missing
variable) but imports nothing that opens a connection. Every module-level name
without a leading underscore is a gunicorn setting: helpers are underscored
(a plain ``config`` here would be taken as gunicorn's own ``config`` setting).
"""

from __future__ import annotations

import connlab_twin.config as _config

_settings = _config.web()

# CONNLAB_ORM=django: Django's own WSGI handler (its request cycle closes or returns connections), else the
# plain WSGI app over SQLAlchemy
wsgi_app = "connlab_twin.django_app:application" if _settings.orm == "django" else "connlab_twin.web:app"
# 127.0.0.1, never 0.0.0.0 on a host (CONNLAB_BIND: a compose file sets 0.0.0.0 inside a container only)
bind = [f"{_settings.bind}:{_settings.port}"]
workers = _settings.workers
threads = _settings.threads
# One thread: the sync worker, gunicorn's default, which accepts a request only when it is idle, so
# requests spread over every process. gthread would accept (and queue) while busy and leave others idle.
worker_class = "sync" if _settings.threads == 1 else "gthread"
# gthread accepts (and queues) connections while its threads are busy: with the default worker_connections
# (1000) one worker can take nearly every connection and leave another short (CI: a dyno of 2 processes x 2
# threads held 3 of 4, one of 2 x 5 held 9 of 10). A worker accepts only what its threads can serve now, as
# Puma does (it accepts only while a thread is free); Locust makes a connection per request: no keep-alive.
worker_connections = _settings.threads
keepalive = 0
# Safe (default): the app is imported in each worker after fork, never in the
# master. CONNLAB_FORK_SAFETY=unsafe: the master imports it before forking,
# and importing it opens a connection there that every worker inherits.
_unsafe = _settings.database.fork_safety == "unsafe"
preload_app = _unsafe
# SIGTERM: in-flight requests get 2 s, then the master SIGKILLs the workers.
graceful_timeout = 2
# Logs to stderr; no access log (one line per request would swamp a load test).
errorlog = "-"
accesslog = None
loglevel = "info"
# gunicorn >= 25.1 opens a control socket at $HOME/.gunicorn/gunicorn.ctl by
# default: one shared path for every dyno on the machine. connlab runs several.
control_socket_disable = True


def post_fork(server: object, worker: object) -> None:
    """In each new worker: forget any per-process pool inherited from the master.

    Without preload the master built none, so this is a guard, not a fix.
    With CONNLAB_FORK_SAFETY=unsafe it does nothing at all, on purpose.
    """
    if _unsafe:
        return
    from connlab_twin import per_process

    per_process.reset_all()

"""Postgres in ``connlab compose``'s file (``harness.compose``): the ``connlab/postgres`` image (Postgres 17), the
``setup`` job that creates the apps' role and database, and the URL the apps get.

The server runs with the ``-c`` settings the docker backend passes (``server_settings``/``setting_args``), except
that ``max_connections`` is the plan's exactly: ``connlab run`` adds a slot for its own admin connection, and
here no harness connects. ``setup`` is a one-shot container of the same image that waits for the server and
does what ``create_app_database`` does through the harness's admin connection, idempotently, so that a second
``up`` finds the role and the database. The superuser's password and the apps' role's come from the
environment (``CONNLAB_POSTGRES_PASSWORD``, ``CONNLAB_APP_PASSWORD``); the file names them, never their values.
"""

from __future__ import annotations

from typing import Any

from harness.resources.compose_spec import ComposePart, ServiceInputs, secret
from harness.resources.postgres.admin import SUPERUSER
from harness.resources.postgres.container import PostgresContainer
from harness.resources.postgres.limits import NAME, PostgresLimits
from harness.resources.postgres.settings import APP_DATABASE, APP_ROLE, server_settings, setting_args

__all__ = ["PART", "SETUP_SQL"]

#: the superuser's password (the image's entrypoint reads it) and the apps' role's
SUPERUSER_PASSWORD = "CONNLAB_POSTGRES_PASSWORD"
APP_PASSWORD = "CONNLAB_APP_PASSWORD"
#: the port inside the compose network: the container's, as the docker backend runs it
PORT = int(PostgresContainer.port.partition("/")[0])
HOST_PORT = 15432
#: the job that creates the apps' role and database, and how long it waits for the server
SETUP = "setup"
SETUP_TIMEOUT_S = 60
#: What ``create_app_database`` does, made idempotent (a second ``up`` finds the role and the database).
SETUP_SQL = (f"SELECT 'CREATE ROLE {APP_ROLE} LOGIN PASSWORD ''{secret(APP_PASSWORD)}''' "
             f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}')\\gexec\n"
             f"SELECT 'CREATE DATABASE {APP_DATABASE} OWNER {APP_ROLE}' "
             f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{APP_DATABASE}')\\gexec\n")


def _limits(limits: Any) -> PostgresLimits:
    assert isinstance(limits, PostgresLimits), limits
    return limits


def _command(limits: PostgresLimits) -> list[str]:
    settings = server_settings(max_connections=limits.max_connections,
                               superuser_reserved_connections=limits.superuser_reserved_connections)
    settings["max_connections"] = str(limits.max_connections)  # no harness slot: nobody else connects
    return setting_args(settings)


def service(limits: Any, inputs: ServiceInputs) -> dict[str, Any]:
    return {
        "image": inputs.image, "command": _command(_limits(limits)),
        "environment": {SUPERUSER_PASSWORD: secret(SUPERUSER_PASSWORD)}, "labels": dict(inputs.labels),
        "ports": [f"127.0.0.1:{inputs.host_port}:{PORT}"],
    }


def jobs(_limits: Any, inputs: ServiceInputs) -> dict[str, dict[str, Any]]:
    """``setup``: wait for the server, then create the apps' role and database unless they exist."""
    wait_and_create = (f"set -e\ntimeout {SETUP_TIMEOUT_S} sh -c 'until pg_isready -q -h {NAME} -U {SUPERUSER}; "
                       f"do sleep 0.2; done'\npsql -v ON_ERROR_STOP=1 -q -h {NAME} -U {SUPERUSER} -d postgres "
                       f"<<'SQL'\n{SETUP_SQL}SQL\n")
    return {SETUP: {
        "image": inputs.image, "entrypoint": ["sh", "-c", wait_and_create],
        "environment": {"PGAPPNAME": "connlab-setup", "PGPASSWORD": secret(SUPERUSER_PASSWORD)},
        "labels": dict(inputs.labels),
        "depends_on": {NAME: {"condition": "service_started"}},
    }}


def _limits_words(limits: Any) -> str:
    postgres = _limits(limits)
    return (f"max_connections={postgres.max_connections} "
            f"(superuser_reserved_connections={postgres.superuser_reserved_connections})")


def _unsupported(limits: Any) -> list[str]:
    if _limits(limits).ssl:
        return [f"{NAME}.ssl: the compose file's Postgres runs without SSL so far; use `connlab run` for it"]
    return []


PART = ComposePart(
    name=NAME,
    title="Postgres 17",
    image=PostgresContainer.image,
    port=PORT,
    host_port=HOST_PORT,
    secrets=(SUPERUSER_PASSWORD, APP_PASSWORD),
    service=service,
    url=f"postgresql://{APP_ROLE}:{secret(APP_PASSWORD)}@{NAME}:{PORT}/{APP_DATABASE}",
    app_depends_on={SETUP: {"condition": "service_completed_successfully"}},
    limits_words=_limits_words,
    login=f" (user {SUPERUSER}, password {SUPERUSER_PASSWORD})",
    client="psql",
    jobs=jobs,
    notes=(f"`{SETUP}` creates the role {APP_ROLE} and",
           f"the database {APP_DATABASE} once Postgres answers; the apps start when it has succeeded."),
    unsupported=_unsupported,
)

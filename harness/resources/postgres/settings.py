"""What every connlab Postgres runs with, whichever backend starts it (``server.py``, ``container.py``,
``harness.compose``): the plan's limits plus the harness's slot, every connection logged for the replay
(``log.py``), no durability, and the apps' role and database.
"""

from __future__ import annotations

from harness.resources.postgres.admin import HARNESS_CONNECTIONS, AdminConnection
from harness.stack.credentials import url_safe

APP_ROLE = "connlab_app"
APP_DATABASE = "connlab"
#: the prefix the log replay parses (``harness.resources.postgres.log``)
LOG_LINE_PREFIX = "%m [%p] "


def server_settings(*, max_connections: int, superuser_reserved_connections: int) -> dict[str, str]:
    """The settings every connlab Postgres runs with, whichever backend starts it: the plan's limits plus the
    harness's slot, every connection logged for the replay, and no durability (the data is thrown away)."""
    return {
        "max_connections": str(max_connections + HARNESS_CONNECTIONS),
        "superuser_reserved_connections": str(superuser_reserved_connections),
        "log_connections": "on",
        "log_disconnections": "on",
        "log_line_prefix": LOG_LINE_PREFIX,
        "log_timezone": "UTC",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "shared_buffers": "16MB",
    }


def setting_args(settings: dict[str, str]) -> list[str]:
    """``-c key=value`` for each setting."""
    return [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]


def create_app_database(admin: AdminConnection, *, password: str) -> None:
    """The apps' role (no superuser: the reserved slots apply to it), with ``password``, and its database."""
    admin.execute(f"create role {APP_ROLE} login password '{url_safe(password)}'")
    admin.execute(f"create database {APP_DATABASE} owner {APP_ROLE}")

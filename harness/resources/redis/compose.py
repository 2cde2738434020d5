"""Valkey in ``connlab compose``'s file (``harness.compose``): the ``connlab/valkey`` image with ``server_args``,
``maxclients`` the plan's exactly (``connlab run`` adds a slot for its own admin connection, and here no harness
connects), the DEBUG command off (only the harness's log markers use it), ``requirepass`` from
``CONNLAB_REDIS_PASSWORD`` (the file names it, never its value), and the URL the apps get.
"""

from __future__ import annotations

from typing import Any

from harness.resources.compose_spec import ComposePart, ServiceInputs, secret
from harness.resources.redis.container import RedisContainer
from harness.resources.redis.limits import NAME, RedisLimits
from harness.resources.redis.settings import server_args

__all__ = ["PART"]

#: the password the image's entrypoint gives ``requirepass``
PASSWORD = "CONNLAB_REDIS_PASSWORD"
#: the port inside the compose network: the container's, as the docker backend runs it
PORT = int(RedisContainer.port.partition("/")[0])
HOST_PORT = 16379


def _limits(limits: Any) -> RedisLimits:
    assert isinstance(limits, RedisLimits), limits
    return limits


def _command(limits: RedisLimits) -> list[str]:
    args = server_args(maxclients=limits.maxclients, debug_command="no")
    args[args.index("--maxclients") + 1] = str(limits.maxclients)  # no harness slot: nobody else connects
    return args


def service(limits: Any, inputs: ServiceInputs) -> dict[str, Any]:
    return {
        "image": inputs.image, "command": _command(_limits(limits)), "labels": dict(inputs.labels),
        "environment": {PASSWORD: secret(PASSWORD)},
        "ports": [f"127.0.0.1:{inputs.host_port}:{PORT}"],
    }


PART = ComposePart(
    name=NAME,
    title="Valkey",
    image=RedisContainer.image,
    port=PORT,
    host_port=HOST_PORT,
    secrets=(PASSWORD,),
    service=service,
    url=f"redis://:{secret(PASSWORD)}@{NAME}:{PORT}/0",
    app_depends_on={NAME: {"condition": "service_started"}},
    limits_words=lambda limits: f"maxclients={_limits(limits).maxclients}",
    client="redis-cli",
)

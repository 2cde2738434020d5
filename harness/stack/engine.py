"""The Docker engine the docker backend drives, through the Python ``docker`` SDK.

``docker_client()`` answers a client that has already pinged the engine, or
raises ``MissingDependency`` with one line saying what to install or start
(the SDK, Debian's ``docker.io``, a running ``dockerd``). Installing the engine
and starting ``dockerd`` for a run is the caller's business, not this module's.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from harness.errors import MissingDependency

if TYPE_CHECKING:
    import docker

PING_TIMEOUT_S = 5


def engine_address() -> str:
    """Where the SDK looks for the engine: ``DOCKER_HOST`` or the default socket."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def docker_client(timeout_s: int = 120) -> docker.DockerClient:
    """A client of the engine ``DOCKER_HOST`` names (default: the local socket) that answered a ping."""
    try:
        import docker
        import docker.errors
    except ImportError:
        raise MissingDependency(
            "the docker backend needs the Python docker SDK: run `make venv` (pip install 'docker>=7')"
        ) from None
    try:
        client = docker.from_env(timeout=timeout_s)
        client.api.timeout = PING_TIMEOUT_S
        client.ping()
        client.api.timeout = timeout_s
    except docker.errors.DockerException as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise MissingDependency(
            f"no Docker engine answers at {engine_address()} ({reason}): "
            "install it (Debian: apt-get install docker.io) and start it (`dockerd &` or `systemctl start docker`)"
        ) from None
    return client

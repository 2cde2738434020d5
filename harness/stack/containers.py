"""Server containers for the docker backend: what every server kind's ``container.py`` builds on.

``ServerContainer`` runs one server from a cached image (``harness.stack.images``), published on 127.0.0.1
only on a port of our choosing (a restarted container keeps it), with the run's label (``connlab.run``):
``remove_labelled`` removes whatever a run left, whichever way it ended. Its ``log_path`` gets the container's
whole output, restarts included, when it stops, so the log replays give exact peaks as locally. A server kind
gives its image, port, arguments, environment (its passwords, new per container, which the image's entrypoint
unsets before it execs the server: a published port on 127.0.0.1 reaches any local user, so nothing is
trusted) and readiness.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ComponentDied, StartTimeout
from harness.ground.process import Readiness, free_port
from harness.stack.images import ensure_image

if TYPE_CHECKING:
    import docker

RUN_LABEL = "connlab.run"
READY_TIMEOUT_S = 30.0
POLL_S = 0.1
STOP_TIMEOUT_S = 5


def remove_labelled(client: docker.DockerClient, run_id: str) -> list[str]:
    """Remove every container and network carrying ``connlab.run=run_id``; return their names."""
    gone = []
    for container in client.containers.list(all=True, ignore_removed=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)
            gone.append(str(container.name))
    for network in client.networks.list(filters={"label": f"{RUN_LABEL}={run_id}"}):
        with contextlib.suppress(Exception):
            network.remove()
            gone.append(str(network.name))
    return gone


def last_lines(container: Any) -> list[str]:
    """A container's last 8 lines of output; none for one that is gone."""
    try:
        return bytes(container.logs(tail=8)).decode(errors="replace").splitlines()
    except Exception:  # noqa: BLE001 - a removed container has no last lines
        return []


def wait_ready(container: Any, *, name: str, readiness: Readiness) -> None:
    """Poll ``readiness.check`` every ``POLL_S``. A container that exits first raises ``ComponentDied``, one not
    ready within its timeout ``StartTimeout``; both carry its name, and the timeout the wait, and its last lines."""
    began = time.monotonic()
    while not readiness.check():
        container.reload()
        if container.status == "exited":
            raise ComponentDied(name, container.attrs["State"]["ExitCode"], last_lines(container))
        if time.monotonic() - began > readiness.timeout_s:
            raise StartTimeout(name, time.monotonic() - began, readiness.name, last_lines(container))
        time.sleep(POLL_S)


class ServerContainer:
    """One server container: started from a cached image, its output followed into ``log_path``."""

    name: str
    image: str
    port: str
    log_is_live = False  # the container's output is saved into ``log_path`` when it stops

    def __init__(self, *, client: docker.DockerClient, run_id: str, run_dir: Path,
                 say: Any = lambda _: None) -> None:
        self.client = client
        self.run_id = run_id
        self.log_path = run_dir / f"{self.name}.log"
        self.say = say
        self.container: Any = None
        # a port of our choosing, not the engine's: a restarted container keeps it, so the apps find it again
        self.host_port = free_port()

    def _args(self) -> list[str]:
        raise NotImplementedError

    def _environment(self) -> dict[str, str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _run(self) -> None:
        tag = ensure_image(self.client, self.image, self.say).tag
        self.container = self.client.containers.run(
            tag, self._args(), environment=self._environment(), detach=True, labels={RUN_LABEL: self.run_id},
            name=f"connlab-{self.run_id[:12]}-{self.name}", ports={self.port: ("127.0.0.1", self.host_port)})

    def _wait_ready(self, strategy: str) -> None:
        wait_ready(self.container, name=self.name,
                   readiness=Readiness(name=strategy, check=self._ready, timeout_s=READY_TIMEOUT_S))

    def check_alive(self) -> None:
        """Raise ``ComponentDied`` when the container exited on its own (a restart is not an exit)."""
        if self.container is None:
            return
        self.container.reload()
        if self.container.status == "exited":
            raise ComponentDied(self.name, self.container.attrs["State"]["ExitCode"], last_lines(self.container))

    def _stop_container(self) -> None:
        """Stop, save the whole output (the engine keeps it across restarts) into ``log_path``, remove."""
        if self.container is not None:
            with contextlib.suppress(Exception):
                self.container.stop(timeout=STOP_TIMEOUT_S)
            with contextlib.suppress(Exception):
                self.log_path.write_bytes(bytes(self.container.logs()))
            with contextlib.suppress(Exception):
                self.container.remove(force=True, v=True)
            self.container = None

"""The Docker engine the docker backend drives, through the Python ``docker`` SDK.

``docker_client()`` answers a client that has already pinged the engine, or
raises ``MissingDependency`` with one line saying what to install or start
(the SDK, Debian's ``docker.io``, a running ``dockerd``).

``RunEngine`` is the engine of one run, a context manager: the engine that
answers, or, where none does and connlab runs as root on Debian, one it makes:
it says so, installs ``docker.io`` with apt-get when ``dockerd`` is missing,
starts ``dockerd`` (its log in a temporary file, its process group in the run
registry so a killed run's reaper ends it) and stops it again at the end. It
never stops an engine it did not start. ``CONNLAB_NO_INSTALL=1`` turns this off.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import MissingDependency, StackError
from harness.ground import registry
from harness.ground.children import stop_child

if TYPE_CHECKING:
    import docker

PING_TIMEOUT_S = 5
DOCKERD_READY_S = 30.0
DOCKERD_STOP_S = 20.0
ENGINE_PACKAGES = ("docker.io",)


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


def _may_install() -> bool:
    return (os.environ.get("CONNLAB_NO_INSTALL", "") in ("", "0") and os.geteuid() == 0
            and shutil.which("apt-get") is not None and "DOCKER_HOST" not in os.environ)


class RunEngine:
    """The Docker engine of one run: the one that answers, or a ``dockerd`` this run starts and stops."""

    def __init__(self, *, say: Callable[[str], None] = lambda _: None) -> None:
        self.say = say
        self.dockerd: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.client: Any = None

    def start(self) -> Any:
        try:
            self.client = docker_client()
            return self.client
        except MissingDependency:
            if not _may_install():
                raise
        self.say("no Docker engine answers: starting one for this run (root on Debian; CONNLAB_NO_INSTALL=1 "
                 "turns this off)")
        if shutil.which("dockerd") is None:
            self._install()
        self._start_dockerd()
        return self.client

    def _install(self) -> None:
        packages = " ".join(ENGINE_PACKAGES)
        self.say(f"installing {packages} with apt-get (about 10 s)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *ENGINE_PACKAGES]):
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise MissingDependency(f"`{' '.join(argv)}` failed; install the engine by hand: "
                                        f"apt-get install {packages}")
        if shutil.which("dockerd") is None:
            raise MissingDependency(f"{packages} installed no dockerd; install a Docker engine by hand")

    def _start_dockerd(self) -> None:
        handle, name = tempfile.mkstemp(prefix="connlab-dockerd-", suffix=".log")
        self.log_path = Path(name)
        with os.fdopen(handle, "wb") as log:
            self.dockerd = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        registry.note_group(self.dockerd.pid, "dockerd", int(signal.SIGTERM))
        began = time.monotonic()
        while True:
            try:
                self.client = docker_client()
                break
            except MissingDependency:
                if self.dockerd.poll() is not None or time.monotonic() - began > DOCKERD_READY_S:
                    last = " | ".join(self.log_path.read_text(errors="replace").splitlines()[-3:])
                    self.stop()
                    raise StackError(f"dockerd did not answer within {DOCKERD_READY_S:g} s "
                                     f"(log {self.log_path}): {last}") from None
                time.sleep(0.2)
        self.say(f"dockerd started in {time.monotonic() - began:.1f} s (stopped again when the run ends)")

    def stop(self) -> None:
        """Stop the ``dockerd`` this run started, if any; an engine found running is left alone."""
        dockerd, self.dockerd = self.dockerd, None
        if dockerd is None:
            return
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
        stop_child(dockerd, grace_s=DOCKERD_STOP_S)
        registry.drop_group(dockerd.pid)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

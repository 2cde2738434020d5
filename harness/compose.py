"""A scenario's stack as a compose file a user can read and run (``connlab compose``): servers and dynos, no harness.

``compose_document(plan, images, ports)`` is pure: it builds the compose
document (a dict) from a ``Plan`` and the image tags; ``render`` adds a header
comment and turns it into YAML. ``build_images(plan, say)`` builds the images first
(``harness.stack.images``) on the engine ``connlab run --backend docker`` uses
(``harness.stack.engine.RunEngine``: the one that answers, or a ``dockerd`` it
starts, within a run's lifetime so that a killed compose's reaper ends it, and
stops once the images are built); the CLI then writes the file. The layout, for a plan of N
web dynos and M worker processes:

* a service per server, named as its resource (``postgres``, ``redis``), and the one-shot jobs that prepare
  it for the apps (``setup``: Postgres' role and database), each from its server kind's ``ComposePart``
  (``harness/resources/<name>/compose.py``, listed in ``harness.resources.compose_parts``): the image the
  docker backend runs, its settings with the plan's limits exactly (``connlab run`` adds a slot for its own
  admin connection, and here no harness connects), the URL the apps get, the published port, its passwords;
  this module loops over the plan's servers and names none.
* ``web-1`` .. ``web-N``: a container per dyno (``bin/web``, its own
  ``CONNLAB_GROUP=web.K``), ``worker-1`` .. ``worker-M``: one per worker process
  (``bin/worker``); they start once every server has started and its jobs have succeeded.

Networking: the project's own compose network, where the apps reach each server by its service name on the
container's port (``postgres:5432``, ``redis:6379``; the docker backend runs the apps with the host's network
instead, reaching the servers' published ports). Nothing is trusted: the file names the servers' passwords,
never their values (``SECRETS``: ``${CONNLAB_POSTGRES_PASSWORD}`` for the superuser,
``${CONNLAB_APP_PASSWORD}`` for the apps' role, ``${CONNLAB_REDIS_PASSWORD}`` for Valkey's ``requirepass``),
which compose takes from the environment or from ``--env-file``; ``connlab compose -o FILE`` writes new random
ones to ``FILE.env`` (mode 0600). The web server binds 0.0.0.0 inside its container (``CONNLAB_BIND``) so that
the publish reaches it. Every port is published on the host's 127.0.0.1 only (``Ports``; the CLI's
``--<server>-port`` flags come from the parts, ``add_port_arguments``), and every service (and the network)
carries the label ``connlab.compose=<scenario name>``.

The traffic, the events and the one-off extras are not in the file: they are
``connlab run``'s.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness import __version__
from harness.errors import PlanError
from harness.ground.lifetime import run_lifetime
from harness.plan import Plan
from harness.resources.compose_parts import COMPOSE_PARTS, ComposePart
from harness.resources.compose_spec import ServiceInputs, secret
from harness.resources.registry import RESOURCES
from harness.stack.apps import Endpoints, web_settings, worker_settings
from harness.stack.credentials import new_password, private_file
from harness.stack.docker_stack import APPS_WITH_IMAGES
from harness.stack.engine import RunEngine
from harness.stack.images import ensure_app_image, ensure_image

__all__ = ["LABEL", "SECRETS", "Images", "Ports", "add_port_arguments", "build_images", "check_supported",
           "compose_document", "env_file", "header", "ports_from", "render", "secret", "write"]

LABEL = "connlab.compose"
#: The port inside the compose network every web dyno listens on, each in its own container.
WEB_PORT = 3000
#: The web server's address inside its container: every interface, so that the publish reaches it.
CONTAINER_BIND = "0.0.0.0"  # noqa: S104 - inside the container only; the host publishes on 127.0.0.1
#: The Python twin's interpreter inside its image.
CONTAINER_PYTHON = "python3"
#: The passwords the file names (compose interpolates them from the environment or ``--env-file``): every
#: server's, in the registry's order.
SECRETS = tuple(name for part in COMPOSE_PARTS.values() for name in part.secrets)


@dataclass(frozen=True, kw_only=True)
class Images:
    """The local tags the file runs: each server's by its resource's name (``connlab/<image>:<hash>``, the
    image its ``ComposePart`` names), and the app's, ``connlab/<app>-app:<hash>``."""

    servers: Mapping[str, str]
    app: str


@dataclass(frozen=True, kw_only=True)
class Ports:
    """Host ports, published on 127.0.0.1: each server's by its resource's name (its ``ComposePart.host_port``
    when not given), and the first web dyno's (dyno K gets web + K - 1)."""

    servers: Mapping[str, int] = field(default_factory=dict)
    web: int = 18001

    def server(self, name: str) -> int:
        return self.servers.get(name, COMPOSE_PARTS[name].host_port)

    def dyno(self, number: int) -> int:
        return self.web + number - 1


def _port_dest(name: str) -> str:
    return f"{name}_port"


def add_port_arguments(parser: argparse.ArgumentParser) -> None:
    """``--<server>-port N`` for each server kind, then ``--web-port N``: the host ports of ``Ports``."""
    for name, part in COMPOSE_PARTS.items():
        parser.add_argument(f"--{name}-port", dest=_port_dest(name), type=int, metavar="N", default=part.host_port,
                            help="on 127.0.0.1 (default: %(default)s)")
    parser.add_argument("--web-port", type=int, metavar="N", default=Ports.web,
                        help="web-1's port on 127.0.0.1, web-K's this + K - 1 (default: %(default)s)")


def ports_from(args: argparse.Namespace) -> Ports:
    """The ``Ports`` of ``add_port_arguments``' flags."""
    return Ports(servers={name: int(getattr(args, _port_dest(name))) for name in COMPOSE_PARTS}, web=args.web_port)


def _parts(plan: Plan) -> list[tuple[ComposePart, Any]]:
    """The plan's servers' compose parts, with their limits, in the registry's order."""
    return [(COMPOSE_PARTS[name], limits) for name, limits in plan.limits.items()]


def check_supported(plan: Plan) -> None:
    """PlanError, one line, for a plan a compose file cannot run (so the CLI says it before building anything)."""
    problems = []
    if plan.app not in APPS_WITH_IMAGES:
        problems.append(f"{plan.path}: app: compose files run {', '.join(APPS_WITH_IMAGES)} so far (the apps "
                        f"with an image), got {plan.app!r}; use `connlab run` for it")
    problems.extend(f"{plan.path}: {problem}" for part, limits in _parts(plan) for problem in part.unsupported(limits))
    if problems:
        raise PlanError(problems)


def build_images(plan: Plan, say: Callable[[str], None]) -> Images:
    """Build (or find, cached) the images the file runs, on the engine ``connlab run --backend docker`` uses:
    the one that answers, or (root on Debian) a ``dockerd`` started for this and stopped again once the images
    are built (``RunEngine``; ``MissingDependency``, exit 3, where there is none and none can be started). One
    run's lifetime (``harness.ground.lifetime``), as a run's: the ``dockerd`` is in the run registry, so a
    compose killed meanwhile leaves none behind."""
    with run_lifetime(say):
        engine = RunEngine(say=say)
        client = engine.start()
        try:
            servers = {part.name: ensure_image(client, part.image, say).tag for part, _limits in _parts(plan)}
            images = Images(servers=servers, app=ensure_app_image(client, plan.app, say).tag)
        finally:
            if engine.dockerd is not None:
                say("stopping the dockerd started for the images: `docker compose up` needs an engine running")
            engine.stop()
    return images


def _container_env(plan: Plan, settings: dict[str, str]) -> dict[str, str]:
    """An app process's settings for a container. ``CONNLAB_PYTHON`` names the harness's own interpreter, a path
    on this machine: the Python twin gets the image's ``python3`` instead (as the docker backend does), and the
    Rails app, which does not read it, nothing."""
    env = {key: value for key, value in settings.items() if key != "CONNLAB_PYTHON"}
    return {**env, "CONNLAB_PYTHON": CONTAINER_PYTHON} if plan.app == "python" else env


def compose_document(plan: Plan, images: Images, ports: Ports = Ports()) -> dict[str, Any]:
    """The compose document for ``plan``'s stack: see the module's docstring for its layout."""
    check_supported(plan)
    labels = {LABEL: plan.name}
    parts = _parts(plan)
    inputs = {part.name: ServiceInputs(image=images.servers[part.name], host_port=ports.server(part.name),
                                       labels=labels) for part, _limits in parts}
    endpoints = Endpoints(variables={RESOURCES[part.name].url_variable: part.url for part, _limits in parts})
    after_setup = {name: dict(condition) for part, _limits in parts for name, condition in part.app_depends_on.items()}
    services: dict[str, Any] = {part.name: part.service(limits, inputs[part.name]) for part, limits in parts}
    for part, limits in parts:
        services.update(part.jobs(limits, inputs[part.name]))
    for dyno in range(1, plan.web.dynos + 1):
        env = _container_env(plan, web_settings(plan, endpoints, dyno=dyno, port=WEB_PORT))
        services[f"web-{dyno}"] = {
            "image": images.app, "command": ["bin/web"], "working_dir": "/app",
            "environment": {**env, "CONNLAB_BIND": CONTAINER_BIND}, "labels": labels,
            "ports": [f"127.0.0.1:{ports.dyno(dyno)}:{WEB_PORT}"], "depends_on": after_setup,
        }
    for process in range(1, (plan.worker.processes if plan.worker else 0) + 1):
        services[f"worker-{process}"] = {
            "image": images.app, "command": ["bin/worker"], "working_dir": "/app",
            "environment": _container_env(plan, worker_settings(plan, endpoints, process=process)), "labels": labels,
            "depends_on": after_setup,
        }
    return {"services": services, "networks": {"default": {"labels": labels}}}


def _servers(count: int) -> str:
    return {1: "the server", 2: "both servers"}.get(count, "every server")


def header(plan: Plan, images: Images, ports: Ports) -> str:
    """The comment at the top of the file: what it is, how to run it, its images, limits and ports."""
    web = plan.web
    parts = _parts(plan)
    workers = (f"{plan.worker.processes} worker process(es) at concurrency {plan.worker.concurrency}, pool "
               f"{plan.worker.pool}" if plan.worker else "no worker")
    dynos = " ".join(f"web-{n} http://127.0.0.1:{ports.dyno(n)}" for n in range(1, web.dynos + 1))
    published = ", ".join(f"{part.name} 127.0.0.1:{ports.server(part.name)}{part.login}" for part, _ in parts)
    inside = " and ".join(f"{part.name}:{part.port}" for part, _ in parts)
    clients = " or ".join(part.client for part, _ in parts if part.client)
    notes = [note for part, _ in parts for note in part.notes]
    bind = f"binds {CONTAINER_BIND}:{WEB_PORT} in its container (CONNLAB_BIND)."
    lines = [
        f"connlab {__version__}: the stack of scenario {plan.name!r} ({plan.path.name}), without the harness:",
        f"{', '.join(part.title for part, _ in parts)}, {web.dynos} web dyno(s) of the {plan.app} app "
        f"({web.processes} processes x {web.threads} threads, pool {web.pool}),",
        f"{workers}.",
        "No traffic, events or one-off processes: those are `connlab run`'s.",
        "",
        "Run:   docker compose --env-file FILE.env -f FILE up   (Debian's v1: docker-compose --env-file FILE.env ...)",
        "Stop:  docker compose --env-file FILE.env -f FILE down -v",
        f"FILE.env holds the passwords ({', '.join(SECRETS)}): `connlab compose -o FILE`",
        "writes new ones there (mode 0600); written to stdout, set them yourself. Nothing is trusted.",
        "",
        "Images: local tags `connlab compose` built before writing this file (no registry has them; the tags are",
        "hashes of stacks: after a change, run `connlab compose` again):",
        "  " + "  ".join([*(images.servers[part.name] for part, _ in parts), images.app]),
        "",
        f"Limits, exactly the scenario's: {', '.join(part.limits_words(limits) for part, limits in parts)}.",
        f"`connlab run` gives {_servers(len(parts))} one slot more, for its own admin connection; here nothing else "
        "connects,",
        f"so a {clients} of yours takes one of the apps' slots.",
        "",
        f"On 127.0.0.1 only: {published},",
        f"{dynos}.",
        f"Inside the compose network the apps reach {inside}; the web server",
        *([f"{bind} {notes[0]}", *notes[1:]] if notes else [bind]),
    ]
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


class _Dumper(yaml.SafeDumper):
    """Safe YAML as a person writes it: no anchors, a script of several lines as a literal block, commands on a
    line or two (``[-c, max_connections=20, ...]``)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _Flow(list[str]):
    """A command, written in flow style."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


def _flow(dumper: yaml.SafeDumper, value: _Flow) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(_Flow, _flow)


def render(plan: Plan, images: Images, ports: Ports = Ports()) -> str:
    """The compose file's text: the header comment, then the document as YAML."""
    document = compose_document(plan, images, ports)
    for service in document["services"].values():
        for key in ("command", "entrypoint"):
            if key in service and not any("\n" in arg for arg in service[key]):
                service[key] = _Flow(service[key])
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100, default_flow_style=False)
    return header(plan, images, ports) + "\n" + body


def env_file(path: Path) -> Path:
    """Where ``write`` puts the passwords of the compose file at ``path``: ``FILE.env``."""
    return path.with_name(path.name + ".env")


def write(text: str, path: Path) -> Path:
    """Write the compose file's text to ``path`` (its folder made when missing), and new passwords to
    ``FILE.env`` (0600, replaced: the containers are created anew from it); return that file's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    secrets = env_file(path)
    secrets.unlink(missing_ok=True)
    private_file(secrets, "".join(f"{name}={new_password()}\n" for name in SECRETS))  # created 0600
    return secrets

"""A scenario's stack as a compose file a user can read and run (``connlab compose``): servers and dynos, no harness.

``compose_document(plan, images, ports)`` is pure: it builds the compose
document (a dict) from a ``Plan`` and the image tags; ``render`` adds a header
comment and turns it into YAML. ``build_images(plan, say)`` builds the images first
(``harness.stack.images``) on the engine ``connlab run --backend docker`` uses
(``harness.stack.engine.RunEngine``: the one that answers, or a ``dockerd`` it
starts, within a run's lifetime so that a killed compose's reaper ends it, and
stops once the images are built); the CLI then writes the file. The layout, for a plan of N
web dynos and M worker processes:

* ``postgres``: the ``connlab/postgres`` image (Postgres 17) with the ``-c``
  settings the docker backend passes (``server_settings``/``setting_args``),
  except that ``max_connections`` is the plan's exactly: ``connlab run`` adds a
  slot for its own admin connection, and here no harness connects.
* ``redis``: the ``connlab/valkey`` image with ``server_args``, ``maxclients``
  the plan's exactly, for the same reason, and the DEBUG command off (only the
  harness's log markers use it).
* ``setup``: a one-shot container of the postgres image that waits for the
  server and creates the apps' role and database (what ``create_app_database``
  does through the harness's admin connection), idempotently, so a second
  ``up`` finds them.
* ``web-1`` .. ``web-N``: a container per dyno (``bin/web``, its own
  ``CONNLAB_GROUP=web.K``), ``worker-1`` .. ``worker-M``: one per worker process
  (``bin/worker``); they start once ``setup`` has succeeded.

Networking: the project's own compose network, where the apps reach
``postgres:5432`` and ``redis:6379`` by service name (the docker backend runs
the apps with the host's network instead, reaching the servers' published
ports). Nothing is trusted: the file names three passwords, never their values
(``${CONNLAB_POSTGRES_PASSWORD}`` for the superuser, ``${CONNLAB_APP_PASSWORD}``
for the apps' role, ``${CONNLAB_REDIS_PASSWORD}`` for Valkey's ``requirepass``),
which compose takes from the environment or from ``--env-file``; ``connlab
compose -o FILE`` writes new random ones to ``FILE.env`` (mode 0600). The web server binds 0.0.0.0 inside its
container (``CONNLAB_BIND``) so that the publish reaches it. Every port is published on the host's
127.0.0.1 only, and every service (and the network) carries the label
``connlab.compose=<scenario name>``.

The traffic, the events and the one-off extras are not in the file: they are
``connlab run``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness import __version__
from harness.errors import PlanError
from harness.ground.lifetime import run_lifetime
from harness.plan import Plan
from harness.resources.postgres.admin import SUPERUSER
from harness.resources.postgres.limits import PostgresLimits
from harness.resources.postgres.settings import APP_DATABASE, APP_ROLE, server_settings, setting_args
from harness.resources.redis.limits import RedisLimits
from harness.resources.redis.settings import server_args
from harness.stack.apps import Endpoints, web_settings, worker_settings
from harness.stack.credentials import new_password, private_file
from harness.stack.docker_stack import APPS_WITH_IMAGES
from harness.stack.engine import RunEngine
from harness.stack.images import ensure_app_image, ensure_image

LABEL = "connlab.compose"
#: Ports inside the compose network; every web dyno listens on the same one in its own container.
POSTGRES_PORT = 5432
REDIS_PORT = 6379
WEB_PORT = 3000
#: The web server's address inside its container: every interface, so that the publish reaches it.
CONTAINER_BIND = "0.0.0.0"  # noqa: S104 - inside the container only; the host publishes on 127.0.0.1
#: The Python twin's interpreter inside its image.
CONTAINER_PYTHON = "python3"
SETUP_TIMEOUT_S = 60
#: The passwords the file names (compose interpolates them from the environment or ``--env-file``).
SECRETS = ("CONNLAB_POSTGRES_PASSWORD", "CONNLAB_APP_PASSWORD", "CONNLAB_REDIS_PASSWORD")


def secret(name: str) -> str:
    """A reference compose fills in from the environment, failing with this line when it is not set."""
    return f"${{{name}:?is not set: give it, or pass the --env-file that connlab compose -o FILE wrote}}"


_APP_PASSWORD = secret("CONNLAB_APP_PASSWORD")
#: What ``create_app_database`` does, made idempotent (a second ``up`` finds the role and the database).
SETUP_SQL = (f"SELECT 'CREATE ROLE {APP_ROLE} LOGIN PASSWORD ''{_APP_PASSWORD}''' "
             f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}')\\gexec\n"
             f"SELECT 'CREATE DATABASE {APP_DATABASE} OWNER {APP_ROLE}' "
             f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{APP_DATABASE}')\\gexec\n")


@dataclass(frozen=True, kw_only=True)
class Images:
    """The local tags the file runs: ``connlab/postgres:<hash>``, ``connlab/valkey:<hash>``,
    ``connlab/<app>-app:<hash>``."""

    postgres: str
    redis: str
    app: str


@dataclass(frozen=True, kw_only=True)
class Ports:
    """Host ports, published on 127.0.0.1: Postgres, Valkey, and the first web dyno's (dyno K gets web + K - 1)."""

    postgres: int = 15432
    redis: int = 16379
    web: int = 18001

    def dyno(self, number: int) -> int:
        return self.web + number - 1


def _postgres(plan: Plan) -> PostgresLimits:
    limits = plan.limits["postgres"]
    assert isinstance(limits, PostgresLimits), limits
    return limits


def _redis(plan: Plan) -> RedisLimits:
    limits = plan.limits["redis"]
    assert isinstance(limits, RedisLimits), limits
    return limits


def check_supported(plan: Plan) -> None:
    """PlanError, one line, for a plan a compose file cannot run (so the CLI says it before building anything)."""
    problems = []
    if plan.app not in APPS_WITH_IMAGES:
        problems.append(f"{plan.path}: app: compose files run {', '.join(APPS_WITH_IMAGES)} so far (the apps "
                        f"with an image), got {plan.app!r}; use `connlab run` for it")
    if _postgres(plan).ssl:
        problems.append(f"{plan.path}: postgres.ssl: the compose file's Postgres runs without SSL so far; "
                        "use `connlab run` for it")
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
            images = Images(postgres=ensure_image(client, "postgres", say).tag,
                            redis=ensure_image(client, "valkey", say).tag,
                            app=ensure_app_image(client, plan.app, say).tag)
        finally:
            if engine.dockerd is not None:
                say("stopping the dockerd started for the images: `docker compose up` needs an engine running")
            engine.stop()
    return images


def _postgres_command(plan: Plan) -> list[str]:
    settings = server_settings(max_connections=_postgres(plan).max_connections,
                               superuser_reserved_connections=_postgres(plan).superuser_reserved_connections)
    settings["max_connections"] = str(_postgres(plan).max_connections)  # no harness slot: nobody else connects
    return setting_args(settings)


def _redis_command(plan: Plan) -> list[str]:
    args = server_args(maxclients=_redis(plan).maxclients, debug_command="no")
    args[args.index("--maxclients") + 1] = str(_redis(plan).maxclients)  # no harness slot: nobody else connects
    return args


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
    endpoints = Endpoints(variables={
        "CONNLAB_DATABASE_URL": f"postgresql://{APP_ROLE}:{_APP_PASSWORD}@postgres:{POSTGRES_PORT}/{APP_DATABASE}",
        "CONNLAB_REDIS_URL": f"redis://:{secret('CONNLAB_REDIS_PASSWORD')}@redis:{REDIS_PORT}/0"})
    after_setup = {"setup": {"condition": "service_completed_successfully"},
                   "redis": {"condition": "service_started"}}
    wait_and_create = (f"set -e\ntimeout {SETUP_TIMEOUT_S} sh -c 'until pg_isready -q -h postgres -U {SUPERUSER}; "
                       f"do sleep 0.2; done'\npsql -v ON_ERROR_STOP=1 -q -h postgres -U {SUPERUSER} -d postgres "
                       f"<<'SQL'\n{SETUP_SQL}SQL\n")
    services: dict[str, Any] = {
        "postgres": {
            "image": images.postgres, "command": _postgres_command(plan),
            "environment": {"CONNLAB_POSTGRES_PASSWORD": secret("CONNLAB_POSTGRES_PASSWORD")}, "labels": labels,
            "ports": [f"127.0.0.1:{ports.postgres}:{POSTGRES_PORT}"],
        },
        "redis": {
            "image": images.redis, "command": _redis_command(plan), "labels": labels,
            "environment": {"CONNLAB_REDIS_PASSWORD": secret("CONNLAB_REDIS_PASSWORD")},
            "ports": [f"127.0.0.1:{ports.redis}:{REDIS_PORT}"],
        },
        "setup": {
            "image": images.postgres, "entrypoint": ["sh", "-c", wait_and_create],
            "environment": {"PGAPPNAME": "connlab-setup", "PGPASSWORD": secret("CONNLAB_POSTGRES_PASSWORD")},
            "labels": labels,
            "depends_on": {"postgres": {"condition": "service_started"}},
        },
    }
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


def header(plan: Plan, images: Images, ports: Ports) -> str:
    """The comment at the top of the file: what it is, how to run it, its images, limits and ports."""
    web = plan.web
    workers = (f"{plan.worker.processes} worker process(es) at concurrency {plan.worker.concurrency}, pool "
               f"{plan.worker.pool}" if plan.worker else "no worker")
    dynos = " ".join(f"web-{n} http://127.0.0.1:{ports.dyno(n)}" for n in range(1, web.dynos + 1))
    lines = [
        f"connlab {__version__}: the stack of scenario {plan.name!r} ({plan.path.name}), without the harness:",
        f"Postgres 17, Valkey, {web.dynos} web dyno(s) of the {plan.app} app ({web.processes} processes x "
        f"{web.threads} threads, pool {web.pool}),",
        f"{workers}.",
        "No traffic, events or one-off processes: those are `connlab run`'s.",
        "",
        "Run:   docker compose --env-file FILE.env -f FILE up   (Debian's v1: docker-compose --env-file FILE.env ...)",
        "Stop:  docker compose --env-file FILE.env -f FILE down -v",
        f"FILE.env holds the passwords ({', '.join(SECRETS)}): `connlab compose -o FILE`",
        "writes new ones there (mode 0600); written to stdout, set them yourself. Nothing is trusted.",
        "",
        "Images: local tags `connlab compose` built before writing this file (no registry has them; the tags are",
        "hashes of harness/apps: after a change, run `connlab compose` again):",
        f"  {images.postgres}  {images.redis}  {images.app}",
        "",
        f"Limits, exactly the scenario's: max_connections={_postgres(plan).max_connections} "
        f"(superuser_reserved_connections={_postgres(plan).superuser_reserved_connections}), "
        f"maxclients={_redis(plan).maxclients}.",
        "`connlab run` gives both servers one slot more, for its own admin connection; here nothing else connects,",
        "so a psql or redis-cli of yours takes one of the apps' slots.",
        "",
        f"On 127.0.0.1 only: postgres 127.0.0.1:{ports.postgres} (user {SUPERUSER}, password "
        "CONNLAB_POSTGRES_PASSWORD), "
        f"redis 127.0.0.1:{ports.redis},",
        f"{dynos}.",
        f"Inside the compose network the apps reach postgres:{POSTGRES_PORT} and redis:{REDIS_PORT}; the web server",
        f"binds {CONTAINER_BIND}:{WEB_PORT} in its container (CONNLAB_BIND). `setup` creates the role {APP_ROLE} and",
        f"the database {APP_DATABASE} once Postgres answers; the apps start when it has succeeded.",
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

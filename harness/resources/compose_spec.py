"""What ``connlab compose`` (``harness.compose``) needs of a server kind: its ``ComposePart``.

Each kind's ``compose`` module builds one (``harness/resources/<name>/compose.py``: the service that runs the
server, the one-shot jobs that prepare it for the apps, the URL the apps get, the published port, the passwords
the file names and the header's words about it); ``harness.resources.compose_parts`` lists them by name, and
``harness.compose`` loops over the plan's servers and names none.

The service and job mappings are compose's own (``image``, ``command``, ``environment``, ``labels``, ``ports``,
``depends_on``, ...), in the order the file shows their keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ComposePart", "ServiceInputs", "secret"]


def secret(name: str) -> str:
    """A reference compose fills in from the environment, failing with this line when it is not set."""
    return f"${{{name}:?is not set: give it, or pass the --env-file that connlab compose -o FILE wrote}}"


@dataclass(frozen=True, kw_only=True)
class ServiceInputs:
    """What the file gives a server's services: the image tag built for it (``ComposePart.image``), the port
    published on the host's 127.0.0.1 and the labels every service carries."""

    image: str
    host_port: int
    labels: Mapping[str, str]


def _no_jobs(_limits: Any, _inputs: ServiceInputs) -> dict[str, dict[str, Any]]:
    return {}


def _no_problems(_limits: Any) -> list[str]:
    return []


@dataclass(frozen=True, kw_only=True)
class ComposePart:
    """One server kind in a compose file. ``name`` is the resource's (``harness.resources.limits.LIMITS``) and
    its service's, which the apps reach by that name on ``port``."""

    name: str
    #: what the image runs, for the header (``Postgres 17``): the docker backend runs the same image
    title: str
    #: the image under ``stacks/images/`` (``harness.stack.images.ensure_image``): the docker backend's own
    image: str
    #: the server's port inside the compose network
    port: int
    #: the host port published on 127.0.0.1 unless told otherwise (``--<name>-port``)
    host_port: int
    #: the passwords the file names (never their values): ``connlab compose -o FILE`` writes new ones to FILE.env
    secrets: tuple[str, ...]
    #: ``service(limits, inputs)``: the server's compose service, its limits exactly the plan's (no harness slot)
    service: Callable[[Any, ServiceInputs], dict[str, Any]]
    #: what the apps are told in the resource's URL variable (``Resource.url_variable``), passwords by reference
    url: str
    #: the apps' ``depends_on`` entries for this server: its service started, or its jobs done
    app_depends_on: Mapping[str, Mapping[str, str]]
    #: ``limits_words(limits)``: the header's words for the limits (``maxclients=50``)
    limits_words: Callable[[Any], str]
    #: the header's words after ``<name> 127.0.0.1:<port>``: how to log in, "" when nothing to say
    login: str = ""
    #: the command-line client a user would connect with (``redis-cli``)
    client: str = ""
    #: ``jobs(limits, inputs)``: one-shot services that prepare the server for the apps, after every server's
    jobs: Callable[[Any, ServiceInputs], dict[str, dict[str, Any]]] = _no_jobs
    #: the header's lines on those jobs (the first one continues the line on the web server's address)
    notes: tuple[str, ...] = ()
    #: ``unsupported(limits)``: why a compose file cannot run these limits, one line each after ``<scenario>: ``
    unsupported: Callable[[Any], list[str]] = _no_problems

"""Redis (Valkey) as a ``Resource``: the registry's entry (``harness.resources.registry``)."""

from __future__ import annotations

from typing import Any

from harness.resources.base import Collector, Fault, Place, Resource, Server
from harness.resources.limits import Limits
from harness.resources.redis import faults
from harness.resources.redis.collector import RedisCollector
from harness.resources.redis.container import RedisContainer
from harness.resources.redis.limits import NAME, RedisLimits
from harness.resources.redis.server import RedisServer


def _limits(limits: Limits) -> RedisLimits:
    assert isinstance(limits, RedisLimits), limits
    return limits


def _local(limits: Limits, place: Place) -> Server:
    return RedisServer.for_limits(_limits(limits), run_dir=place.run_dir)


def _container(limits: Limits, place: Place) -> Server:
    return RedisContainer.for_limits(_limits(limits), place=place)


def _collector(server: Any) -> Collector:
    return RedisCollector(server)


RESOURCE = Resource(
    name=NAME,
    url_variable="CONNLAB_REDIS_URL",
    servers={"local": _local, "docker": _container},
    collector=_collector,
    faults={"kill_redis_clients": Fault(label=lambda group: f"CLIENT KILL {group or 'every app'}*",
                                        run=faults.kill_clients)},
    # a job worker boots against its queue; a web process enqueues (and reads the cache) lazily
    needed_at_boot=lambda _plan, tier: tier == "worker",
)

"""Valkey's sampled count: ``CLIENT LIST`` entries per client name, every ``SAMPLE_INTERVAL_S``, over the
harness's one admin connection (a pool of one, held all run)."""

from __future__ import annotations

from collections import Counter

import redis

from harness.collect import Sampler
from harness.ground.marks import UNNAMED, is_app
from harness.resources.redis.limits import NAME

HANDSHAKE_COMMANDS = ("null", "hello", "client|setinfo", "auth", "select")


class RedisSampler(Sampler):
    """Counts CLIENT LIST entries over the harness's one admin connection (a pool of one, held all run)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(name=NAME)
        self.client = client

    def _sample(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for entry in self.client.client_list():
            name = str(entry.get("name") or UNNAMED)
            if name == UNNAMED and str(entry.get("cmd", "")).lower() in HANDSHAKE_COMMANDS:
                continue  # connected a moment ago, its CLIENT SETNAME not yet run: counted once named
            if is_app(name):
                counts[name] += 1
        return counts

    def rejected(self) -> int:
        return int(self.client.info("stats").get("rejected_connections", 0))

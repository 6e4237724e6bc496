"""The broker's view of a stage's queue, for the watchdog (pipeline.context.QueueProbe)."""

from __future__ import annotations

import json
from typing import Any

import redis

from pipeline.states import Stage
from workers.metrics import SENT_AT_HEADER, queue_keys
from workers.routing import QUEUE_FOR_STAGE

# A probe answers in well under a sweep even when Redis hangs.
PROBE_TIMEOUT_SECONDS = 2.0


class RedisQueueProbe:
    def __init__(self, broker_url: str, transport_options: dict[str, Any]) -> None:
        self.transport_options = transport_options
        self.redis = redis.Redis.from_url(
            broker_url,
            socket_timeout=PROBE_TIMEOUT_SECONDS,
            socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
        )

    def oldest_sent_at(self, stage: Stage) -> float | None:
        keys = queue_keys(QUEUE_FOR_STAGE[stage], self.transport_options)
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.lindex(key, -1)  # producers LPUSH, consumers BRPOP: the tail is oldest
        oldest: float | None = None
        for raw in pipe.execute():
            if raw is None:
                continue
            sent_at = (json.loads(raw).get("headers") or {}).get(SENT_AT_HEADER)
            # A message without the header (another publisher) counts as very old, so
            # nothing behind it is presumed lost.
            t = float(sent_at) if isinstance(sent_at, int | float) else 0.0
            oldest = t if oldest is None else min(oldest, t)
        return oldest

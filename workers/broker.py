"""Celery's Redis transport, with one Redis client per channel instead of one per publish.

kombu's Redis channel builds a new `redis.Redis` (its response-callback tables and all)
for every message it publishes and every event it sends: about a quarter of the CPU of a
stage task's publish. The client is only a handle on the channel's connection pool, so
one per pool serves every command; a new pool (after a reconnect) gets a new client.

It is what the `redis://` scheme names in every process that imports the app (workers,
beat, Flower, API clients), so broker URLs stay `redis://…`: Flower reads the queues by
that scheme, and a transport named by its import path would show up in every URI.
"""

from __future__ import annotations

from typing import Any

from kombu import transport
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _client_for_pool: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the consumer's own client, made once per channel already
            return super()._create_client(asynchronous=True)
        client = self._client_for_pool
        if client is None or client.connection_pool is not self.pool:
            client = self._client_for_pool = super()._create_client()
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel


def serve_redis_urls() -> None:
    """Make this transport the one `redis://` URLs resolve to (kombu's alias table)."""
    transport.TRANSPORT_ALIASES["redis"] = f"{__name__}:Transport"

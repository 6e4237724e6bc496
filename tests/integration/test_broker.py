"""The broker transport's channels on the real Redis: one client per connection pool."""

from __future__ import annotations

from kombu.transport import redis as kombu_redis

from workers.app import app
from workers.broker import Channel


def test_a_channel_keeps_one_client_per_pool() -> None:
    with app.connection_for_write() as connection:
        channel = connection.default_channel  # the channel pings Redis when it opens
        assert isinstance(channel, Channel)
        first = channel._create_client()
        assert channel._create_client() is first
        assert first.ping()
        channel._disconnect_pools()  # as after a lost connection: the next use makes a new pool ...
        again = channel._create_client()
        assert again is not first  # ... and so a new client, on the new pool
        assert again.connection_pool is channel.pool and again.ping()
        assert isinstance(channel._create_client(asynchronous=True), kombu_redis.redis.Redis)

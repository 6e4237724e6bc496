"""The broker transport: redis:// URLs reach the client-caching transport, and say so."""

from __future__ import annotations

from workers.app import app
from workers.broker import Transport


def test_redis_urls_resolve_to_the_caching_transport_and_keep_their_scheme() -> None:
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, Transport)
        # Flower and ops tooling read the broker by its URI's scheme.
        assert connection.as_uri().startswith("redis://")

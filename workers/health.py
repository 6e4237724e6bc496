"""Liveness and readiness: `/healthz` and `/readyz` beside `/metrics` on each worker's
metrics port, and `vividly doctor` on the command line, from the same checks.

Live: the process answers. Ready: the database answers and its schema is at the head
migration, the broker answers, and the object storage answers. Each check has its own
deadline, so a hung dependency reads as "not ready" within seconds, never as a hang.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.settings import Settings

CHECK_TIMEOUT_SECONDS = 3.0
# Probes come every few seconds from the orchestrator (and from each replica's peers):
# one answer is reused this long, so probing never loads the database.
CACHE_SECONDS = 5.0

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # one line a person can act on; never a secret, never student data


async def readiness(settings: Settings) -> list[Check]:
    checks = await asyncio.gather(
        _timed("database", _database(settings)),
        _timed("broker", _broker(settings)),
        _timed("storage", _storage(settings)),
    )
    return list(checks)


async def _timed(name: str, probe: Any) -> Check:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            detail = await probe
        return Check(name, True, detail)
    except TimeoutError:
        return Check(name, False, f"no answer within {CHECK_TIMEOUT_SECONDS:.0f} s")
    except NotReady as e:
        return Check(name, False, str(e))
    except Exception as e:  # the type names the failure; a message may hold a URL
        return Check(name, False, f"unreachable ({type(e).__name__})")


class NotReady(Exception):
    """A dependency answered, but is not as the workers need it."""


async def _database(settings: Settings) -> str:
    from db import migrate

    current = await migrate.current_revision(settings.database_url)
    head = migrate.head_revision()
    if current != head:
        raise NotReady(
            f"schema at revision {current or 'none'}, head is {head}: run `vividly db upgrade`"
        )
    return f"reachable, schema at head ({head})"


async def _broker(settings: Settings) -> str:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return "reachable"


async def _storage(settings: Settings) -> str:
    from pipeline.providers.factory import open_storage

    storage = open_storage(settings)
    # Any answer about an object that need not exist proves the store is reachable and
    # the credentials good.
    await storage.exists(storage.location_for("health/ready"))
    return "reachable"


class Probe:
    """Readiness for the metrics thread: computed in a loop of its own, cached briefly."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._at = 0.0
        self._checks: list[Check] = []

    def checks(self) -> list[Check]:
        with self._lock:
            if time.monotonic() - self._at > CACHE_SECONDS:
                self._checks = asyncio.run(readiness(self._settings))
                self._at = time.monotonic()
            return self._checks


def with_health(metrics: WsgiApp, probe: Probe) -> WsgiApp:
    """The metrics WSGI app with /healthz and /readyz in front of it."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _reply(start_response, 200, {"status": "live"})
        if path == "/readyz":
            checks = probe.checks()
            ready = all(c.ok for c in checks)
            body = {
                "status": "ready" if ready else "not ready",
                "checks": [asdict(c) for c in checks],
            }
            return _reply(start_response, 200 if ready else 503, body)
        return metrics(environ, start_response)

    return app


def _reply(start_response: Callable[..., Any], code: int, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = {200: "OK", 503: "Service Unavailable"}[code]
    start_response(
        f"{code} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]

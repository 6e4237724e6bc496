"""Circuit breakers and rate limits per external provider, kept in Redis so that every
worker process sees the same state (pipeline.providers.protocols.ProviderGuard).

- The breaker (purgatory) opens after `failures` transient failures in a row and stays
  open `open_seconds`; while it is open, calls are not made: they end in
  ProviderDeferred, so the request waits in its queue (not counted as an attempt)
  instead of hammering a provider that is down. Permanent errors (a 400, a safety
  block) say nothing about the provider's health and are not counted.
- The rate limit (limits, moving window) is per provider across the cluster; a call over
  it is deferred until the window has room, again without holding a worker.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from purgatory import AsyncCircuitBreakerFactory, AsyncRedisUnitOfWork
from purgatory.domain.model import OpenedState

from pipeline.context import Providers
from pipeline.costs import unit_price
from pipeline.errors import PermanentStageError, ProviderDeferred, TransientStageError
from pipeline.settings import Settings
from workers.metrics import record_provider_call, record_provider_usage

T = TypeVar("T")
log = structlog.get_logger("vividly.guard")

NAMESPACE = "vividly"


class RedisProviderGuard:
    def __init__(
        self,
        redis_url: str,
        rate_limits: dict[str, str],
        failures: int,
        open_seconds: float,
        prices: dict[str, float],
    ) -> None:
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=failures,
            default_ttl=open_seconds,
            exclude=[PermanentStageError, ProviderDeferred],
            uow=AsyncRedisUnitOfWork(redis_url),
        )
        self._open_seconds = open_seconds
        storage = storage_from_string(f"async+{redis_url}", implementation="redispy")
        self._limiter = MovingWindowRateLimiter(storage)
        self._limits = {provider: parse(limit) for provider, limit in rate_limits.items()}
        self._ready = False
        self._prices = prices

    def count(self, provider: str, measure: str, amount: int) -> None:
        cost = amount * unit_price(provider, measure, self._prices)
        record_provider_usage(provider, measure, amount, cost)

    async def call(self, provider: str, fn: Callable[[], Awaitable[T]]) -> T:
        if not self._ready:
            await self._breakers.initialize()
            self._ready = True
        breaker = await self._breakers.get_breaker(provider)
        try:
            async with breaker:
                await self._admit(provider)
                result = await fn()
        except OpenedState as e:
            wait = max(e.opened_at + self._open_seconds - time.time(), 0.5)
            log.info("provider call deferred", provider=provider, reason="breaker open")
            record_provider_call(provider, "breaker_open")
            raise ProviderDeferred(
                f"{provider} is failing; calls resume after a pause", retry_after=wait
            ) from None
        except ProviderDeferred:
            record_provider_call(provider, "rate_limited")
            raise
        except PermanentStageError:
            record_provider_call(provider, "permanent")
            raise
        except TransientStageError:
            record_provider_call(provider, "transient")
            raise
        record_provider_call(provider, "ok")
        return result

    async def _admit(self, provider: str) -> None:
        item = self._limits.get(provider)
        if item is None or await self._limiter.hit(item, NAMESPACE, provider):
            return
        stats = await self._limiter.get_window_stats(item, NAMESPACE, provider)
        wait = max(stats.reset_time - time.time(), 0.2)
        log.info("provider call deferred", provider=provider, reason="rate limit")
        raise ProviderDeferred(f"{provider}'s rate limit is reached", retry_after=wait)


def guard_providers(providers: Providers, settings: Settings) -> None:
    """Give every provider that calls out (those with `use_guard`) the cluster's guard;
    with only the embedded providers, none is made."""
    takers = [
        use_guard
        for provider in (providers.resolver, providers.writer, providers.speech)
        if (use_guard := getattr(provider, "use_guard", None)) is not None
    ]
    if not takers:
        return
    guard = RedisProviderGuard(
        settings.redis_url,
        {"gemini": settings.gemini_rate_limit, "google_tts": settings.tts_rate_limit},
        settings.provider_failures_to_open,
        settings.provider_open_seconds,
        settings.price_table,
    )
    for use_guard in takers:
        use_guard(guard)

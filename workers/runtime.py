"""One event loop and one async engine per worker process, created after fork.

Celery runs no coroutines, and an asyncpg pool belongs to the loop that created it, so
each prefork child builds its loop, engine and providers on first use (or in
worker_process_init) and every task runs its coroutine on that loop with `run`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

import structlog

from db.session import engine_for
from pipeline.context import Context
from pipeline.providers.factory import build_providers
from pipeline.scratch import scratch_root
from pipeline.settings import get_settings
from workers.guard import guard_providers
from workers.queues import RedisQueueProbe
from workers.routing import TRANSPORT_OPTIONS

T = TypeVar("T")
log = structlog.get_logger("vividly.runtime")


class Runtime:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        settings = get_settings()
        self.engine = engine_for(settings)
        providers = build_providers(settings)
        guard_providers(providers, settings)
        self.context = Context(
            settings=settings,
            engine=self.engine,
            providers=providers,
            scratch=scratch_root(settings),
            queues=queue_probe(settings.redis_url),
        )

    def warm_up(self) -> None:
        try:
            self.run(self.context.warm_up())
        except Exception as e:  # the first task will try again and fail clearly if need be
            log.warning("warm-up failed", error_type=type(e).__name__)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine to its end on this process's loop. If anything interrupts it
        (a soft time limit raised by a signal handler, any exception), it is cancelled
        and awaited before this returns, so nothing of it runs later inside another
        task, holding a lock or an open transaction (SPEC rule 6)."""
        task = self.loop.create_task(coro)
        try:
            return self.loop.run_until_complete(task)
        except BaseException:
            if not task.done():
                task.cancel()
                self._finish(task)
            raise

    def _finish(self, task: asyncio.Task[Any]) -> None:
        while not task.done():
            try:
                self.loop.run_until_complete(asyncio.wait({task}))
            except BaseException as e:  # a second soft limit while cancelling
                log.warning("cancelling a stage again", error_type=type(e).__name__)
                task.cancel()

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.engine.dispose())
        finally:
            self.loop.close()


def queue_probe(broker_url: str) -> RedisQueueProbe:
    return RedisQueueProbe(broker_url, TRANSPORT_OPTIONS)


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """This process's runtime; a forked child never reuses its parent's loop or pool."""
    global _runtime
    if _runtime is None or _runtime.pid != os.getpid():
        _runtime = Runtime()
    return _runtime


def shutdown_runtime() -> None:
    global _runtime
    if _runtime is not None and _runtime.pid == os.getpid():
        _runtime.close()
    _runtime = None

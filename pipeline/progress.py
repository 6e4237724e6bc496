"""Following one request's progress live: its current state, then each committed status
change, until it is completed or failed.

Nothing is missed between a submit and the subscription: the subscription is in place
before the row is read, and the row's state is what comes first. Events chain (each one's
`from` is the status before it); one that does not follow on from the last, a dropped
listener connection, or a long quiet spell makes the follower read the row again and go
on from what it says.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

from db.events import StatusEvent, StatusListener
from db.transient import is_transient_db_error
from pipeline.states import TERMINAL

# Quiet for this long, the row is read again: a safety net under LISTEN/NOTIFY.
RESYNC_SECONDS = 30.0
RECONNECT_FIRST_SECONDS = 0.2  # doubling, up to RECONNECT_MAX_SECONDS
RECONNECT_MAX_SECONDS = 5.0

log = structlog.get_logger("vividly.events")

CurrentState = Callable[[], Awaitable[StatusEvent]]


async def follow(
    request_id: str,
    listener: StatusListener,
    current: CurrentState,
    resync_seconds: float = RESYNC_SECONDS,
) -> AsyncIterator[StatusEvent]:
    """The request's current state (from None), then its status changes in order; ends
    after a terminal status."""
    queue = await listener.subscribe(request_id)
    try:
        last = await current()
        yield last
        while last.to_status not in TERMINAL:
            try:
                item = await asyncio.wait_for(queue.get(), resync_seconds)
            except TimeoutError:
                item = None
            if isinstance(item, StatusEvent) and item.from_status == last.to_status:
                last = item
                yield item
                continue
            if isinstance(item, StatusEvent) and item.to_status == last.to_status:
                continue  # the change the row already showed
            await _reconnected(listener)
            now = await _read(current)
            if now.to_status != last.to_status:
                last = now
                yield now
    finally:
        listener.unsubscribe(request_id, queue)


async def _read(current: CurrentState) -> StatusEvent:
    """The row's state, waiting out a database that is away (a restart, a failover)."""
    wait = RECONNECT_FIRST_SECONDS
    while True:
        try:
            return await current()
        except Exception as e:
            if not is_transient_db_error(e):
                raise
            log.info("request state unavailable; retrying", error_type=type(e).__name__)
        await asyncio.sleep(wait)
        wait = min(wait * 2, RECONNECT_MAX_SECONDS)


async def _reconnected(listener: StatusListener) -> None:
    wait = RECONNECT_FIRST_SECONDS
    while True:
        try:
            await listener.connected()
            return
        except Exception as e:  # refused, reset, or asyncpg's own while PostgreSQL starts
            log.info("status events unavailable; reconnecting", error_type=type(e).__name__)
        await asyncio.sleep(wait)
        wait = min(wait * 2, RECONNECT_MAX_SECONDS)

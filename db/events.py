"""Request status events from PostgreSQL: the NOTIFYs migration 007's trigger sends for
every committed status change, received on one LISTEN connection and fanned out to the
subscribers of each request.

A dropped connection is not an error for subscribers: each is told to resynchronise
(`RESYNC`), and the listener reconnects on the next subscription or resync.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog

CHANNEL = "vividly_request_status"

log = structlog.get_logger("vividly.events")


@dataclass(frozen=True)
class StatusEvent:
    """One committed status change: ids, statuses, a time and content locations only."""

    request_id: str
    from_status: str | None
    to_status: str
    at: datetime
    content: dict[str, str] | None = None


class _Resync:
    """Put in a subscriber's queue when events may have been missed."""


RESYNC = _Resync()
Delivery = StatusEvent | _Resync


def parse_event(payload: str) -> StatusEvent:
    data: dict[str, Any] = json.loads(payload)
    return StatusEvent(
        request_id=str(data["id"]),
        from_status=data.get("from"),
        to_status=str(data["to"]),
        at=datetime.fromisoformat(data["at"]),
        content=data.get("content"),
    )


class StatusListener:
    """One LISTEN connection shared by every subscriber of a process."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection[Any] | None = None
        self._lock = asyncio.Lock()
        self._queues: defaultdict[str, set[asyncio.Queue[Delivery]]] = defaultdict(set)

    async def subscribe(self, request_id: str) -> asyncio.Queue[Delivery]:
        """A queue of this request's events from now on (LISTEN is in place on return)."""
        queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._queues[request_id].add(queue)
        try:
            await self.connected()
        except BaseException:
            self.unsubscribe(request_id, queue)
            raise
        return queue

    def unsubscribe(self, request_id: str, queue: asyncio.Queue[Delivery]) -> None:
        queues = self._queues.get(request_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[request_id]

    async def connected(self) -> None:
        """LISTEN on a live connection, reconnecting if the last one was lost."""
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return
            conn = await asyncpg.connect(self._dsn)
            conn.add_termination_listener(self._lost)
            await conn.add_listener(CHANNEL, self._notified)
            self._conn = conn

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                self._conn.remove_termination_listener(self._lost)  # a close, not a loss
                await self._conn.close()
            self._conn = None

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            event = parse_event(payload)
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable status event ignored")
            return
        for queue in self._queues.get(event.request_id, ()):
            queue.put_nowait(event)

    def _lost(self, _conn: object) -> None:
        log.info("status event connection lost; subscribers resynchronise")
        self._conn = None
        for queues in self._queues.values():
            for queue in queues:
                queue.put_nowait(RESYNC)

"""A stage's local writes made durable while its completion's statements run.

A lesson file must be durable (fsynced) and in place (renamed) before the row that points
at it commits; nothing requires it earlier. So inside `deferred_writes()` (the runner
opens it around a stage's work) local storage writes each object to its temp file and
hands over the rest: `start_landing()` then fsyncs and renames them all in one thread
while the completion's BEGIN, lock and updates go to PostgreSQL, and the completion awaits
it before COMMIT. The journal commit an fsync waits for (the largest wait of a cache miss after the
database's round trips, bench/profile_stages.py --idle) overlaps them instead of preceding
them. Storage that is durable when a put returns (GCS) never defers anything.

Writes land in the order they were made, and the first that fails stops the rest (their
temp files removed): the video stage's page, written after its video, is never in place
pointing at a video that is not. A stage whose work fails discards its pending writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class PendingWrite(Protocol):
    def put_in_place(self) -> None:
        """Make the object durable, then visible; raises if it could not."""
        ...

    def discard(self) -> None:
        """Remove what was written; never raises."""
        ...


class DeferredWrites:
    """The writes of one stage's work, waiting to land."""

    def __init__(self) -> None:
        self._pending: list[PendingWrite] = []

    def add(self, write: PendingWrite) -> None:
        self._pending.append(write)

    def land_now(self) -> None:
        """Put every pending write in place, in order, here (nothing to overlap with)."""
        self._put_in_place()

    def start_landing(self) -> asyncio.Future[None] | None:
        """Put every pending write in place, in order, in a thread started now; the future
        to await before the commit (None: nothing was pending)."""
        if not self._pending:
            return None
        return asyncio.get_running_loop().run_in_executor(None, self._put_in_place)

    def discard(self) -> None:
        pending, self._pending = self._pending, []
        for write in pending:
            write.discard()

    def _put_in_place(self) -> None:
        pending, self._pending = self._pending, []
        for i, write in enumerate(pending):
            try:
                write.put_in_place()
            except BaseException:
                for later in pending[i + 1 :]:
                    later.discard()
                raise


_current: ContextVar[DeferredWrites | None] = ContextVar("vividly_deferred_writes", default=None)


def deferred() -> DeferredWrites | None:
    """The writes being deferred in this context, if any (child tasks share them)."""
    return _current.get()


@contextmanager
def deferred_writes() -> Iterator[DeferredWrites]:
    """Defer the local writes made inside; on an exception, they are discarded."""
    writes = DeferredWrites()
    token = _current.set(writes)
    try:
        yield writes
    except BaseException:
        writes.discard()
        raise
    finally:
        _current.reset(token)

"""What every job shares: its result and the size of its bounded batches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from pipeline.context import Context
from pipeline.dispatch import Dispatch

# Rows per transaction: small enough that no statement holds many row locks for long.
SWEEP_BATCH_SIZE = 500
# A run stops after this many batches; the next run picks up the rest.
MAX_BATCHES_PER_RUN = 200


@dataclass
class JobResult:
    job: str
    changed: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    dispatches: list[Dispatch] = field(default_factory=list)
    # Other tasks to send after the job's transactions: (public task name, its one id).
    tasks: list[tuple[str, str]] = field(default_factory=list)
    locked: bool = False  # another run held the job's lock: nothing was done


async def sweep(
    ctx: Context,
    batch: Callable[[AsyncConnection], Awaitable[int]],
    *,
    committed: Callable[[], None] | None = None,
    batch_size: int = SWEEP_BATCH_SIZE,
    max_batches: int = MAX_BATCHES_PER_RUN,
) -> int:
    """A bounded sweep: `batch` runs in a transaction of its own, again and again, until
    it sees fewer than `batch_size` rows or `max_batches` ran (the next run picks up the
    rest). `committed` runs after each batch's commit (e.g. to send what it decided).
    Returns the rows the batches saw."""
    seen = 0
    for _ in range(max_batches):
        async with ctx.uow() as s:
            n = await batch(s)
        seen += n
        if committed is not None:
            committed()
        if n < batch_size:
            break
    return seen

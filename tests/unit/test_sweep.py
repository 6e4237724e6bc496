"""The bounded sweep every job uses: batch after batch, each in its own transaction."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import pytest

from pipeline.jobs.base import sweep


class StandInContext:
    """A Context whose unit of work only counts commits (no database in tests/unit)."""

    def __init__(self) -> None:
        self.commits = 0

    @asynccontextmanager
    async def _uow(self) -> Any:
        yield object()
        self.commits += 1  # reached only when the batch did not raise

    def uow(self) -> Any:
        return self._uow()


async def test_it_stops_at_the_first_short_batch_and_returns_what_it_saw() -> None:
    sizes = iter([3, 3, 1, 3])
    ctx, sent = StandInContext(), []

    async def batch(_: object) -> int:
        return next(sizes)

    seen = await sweep(ctx, batch, batch_size=3, committed=lambda: sent.append(ctx.commits))  # type: ignore[arg-type]  # a stand-in context
    assert seen == 7
    assert sent == [1, 2, 3]  # after each commit, never before


async def test_it_never_runs_more_than_its_bound() -> None:
    ctx = StandInContext()

    async def full(_: object) -> int:
        return 5

    assert await sweep(ctx, full, batch_size=5, max_batches=4) == 20  # type: ignore[arg-type]  # a stand-in context
    assert ctx.commits == 4


async def test_a_failing_batch_sends_nothing_of_its_own() -> None:
    ctx, sent = StandInContext(), []

    async def boom(_: object) -> int:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        await sweep(ctx, boom, committed=lambda: sent.append(1))  # type: ignore[arg-type]  # a stand-in context
    assert sent == [] and ctx.commits == 0

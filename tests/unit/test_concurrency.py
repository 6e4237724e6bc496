"""side_by_side: calls run at once; a failure is raised as it is, once the others ended."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.concurrency import side_by_side
from pipeline.errors import TransientStageError


async def test_results_come_back_in_argument_order_and_the_calls_overlap() -> None:
    # Each call waits for all three to have started: one after another, none would end.
    all_started = asyncio.Barrier(3)

    async def call(value: str) -> str:
        await all_started.wait()
        return value

    done = await asyncio.wait_for(side_by_side(call("a"), call("b"), call("c")), 5)
    assert done == ("a", "b", "c")


async def test_a_failure_is_raised_as_it_is_only_after_the_other_calls_ended() -> None:
    finished: list[str] = []

    async def fails() -> None:
        raise TransientStageError("storage unavailable")

    async def slow_write() -> str:
        await asyncio.sleep(0.1)
        finished.append("write")
        return "written"

    with pytest.raises(TransientStageError, match="storage unavailable"):
        await side_by_side(fails(), slow_write())
    assert finished == ["write"]  # nothing of it left running after the error

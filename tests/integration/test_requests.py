"""Request statements single flight relies on, on a real PostgreSQL: the followed mark a
leader's transition returns, and the completion guard that refuses a cancelled leader."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from db.requests import Lease, RequestStore
from db.session import create_engine, unit_of_work
from pipeline import request_meta as M
from pipeline.errors import StaleClaim
from pipeline.states import Status
from tests.support import asyncpg_url

T = TypeVar("T")

STUDENT = "user_demo_student_1"
LEASE = Lease("task-1", 0)
# The path of a cache miss up to rendering, one compare-and-set each.
TO_VIDEO = (
    Status.nlu_processing,
    Status.cache_check,
    Status.generating_script,
    Status.generating_audio,
    Status.fast_path_ready,
    Status.generating_video,
)


def run(dbname: str, fn: Callable[[RequestStore], Awaitable[T]]) -> T:
    async def go() -> T:
        engine = create_engine(asyncpg_url(dbname))
        try:
            async with unit_of_work(engine) as session:
                return await fn(RequestStore(session))
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def submitted(store: RequestStore) -> str:
    rid = await store.submit(
        student_id=STUDENT,
        original_query="explain momentum",
        style="conversational",
        interest_id=None,
    )
    assert rid is not None
    return rid


async def rendering(store: RequestStore) -> str:
    """A request in generating_video, leased by LEASE."""
    rid = await submitted(store)
    for frm, to in zip(TO_VIDEO, TO_VIDEO[1:], strict=False):
        await store.transition(rid, frm, to)
    assert await store.claim(rid, (Status.generating_video,), LEASE, 30) is not None
    return rid


def test_a_leader_transition_returns_the_mark_its_followers_left(seeded_db: str) -> None:
    async def go(store: RequestStore) -> list[tuple[str, object]]:
        rid = await submitted(store)
        seen = []
        for frm, to in zip(TO_VIDEO, TO_VIDEO[1:], strict=False):
            if to == Status.fast_path_ready:  # two followers attach while it narrates
                await store.mark_followed(rid)
                await store.mark_followed(rid)
            seen.append((str(to), (await store.transition(rid, frm, to)).metadata.get(M.FOLLOWED)))
        return seen

    assert run(seeded_db, go) == [
        ("cache_check", None),
        ("generating_script", None),
        ("generating_audio", None),
        ("fast_path_ready", True),
        ("generating_video", True),
    ]


def test_a_leader_end_is_refused_once_its_cancellation_was_asked_for(seeded_db: str) -> None:
    async def go(store: RequestStore) -> str:
        rid = await rendering(store)
        assert await store.mark_cancel(rid, Status.generating_video, deferred=True)
        with pytest.raises(StaleClaim):
            await store.transition(
                rid, Status.generating_video, Status.completed, lease=LEASE, unless_cancelled=True
            )
        # Without the strict guard, a deferred cancellation lets the leader complete.
        now = await store.transition(rid, Status.generating_video, Status.completed, lease=LEASE)
        return str(now.status)

    assert run(seeded_db, go) == "completed"


def test_the_strict_guard_lets_a_leader_nobody_cancelled_end(seeded_db: str) -> None:
    async def go(store: RequestStore) -> str:
        rid = await rendering(store)
        now = await store.transition(
            rid, Status.generating_video, Status.completed, lease=LEASE, unless_cancelled=True
        )
        return str(now.status)

    assert run(seeded_db, go) == "completed"

"""Request statements single flight and the runner rely on, on a real PostgreSQL: the
followed mark a leader's transition returns, the completion guard that refuses a
cancelled leader, a transition that hands its lease over to the next stage, and the
lookups of a key's leader and a leader's followers by their indexes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import pytest

from db import requests as statements
from db.driver import Sql
from db.requests import Lease, RequestStore
from db.session import create_engine, unit_of_work
from pipeline import request_meta as M
from pipeline.errors import StaleClaim
from pipeline.states import Status
from tests.support import asyncpg_url, connect, libpq_url

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


async def scripting(store: RequestStore) -> str:
    """A request in generating_script, leased by LEASE."""
    rid = await submitted(store)
    for frm, to in zip(TO_VIDEO[:2], TO_VIDEO[1:3], strict=True):
        await store.transition(rid, frm, to)
    assert await store.claim(rid, (Status.generating_script,), LEASE, 30) is not None
    return rid


async def execution(store: RequestStore, rid: str) -> tuple[object, ...]:
    row = await Sql(
        "SELECT stage, lease_task_id, lease_try, lease_expires_at > clock_timestamp(), "
        "deliveries, crashes, attempts FROM request_execution WHERE request_id = :id"
    ).row(store.s, {"id": rid})
    assert row is not None
    return tuple(row.values())


def test_a_transition_that_hands_over_claims_the_request_for_the_next_stage(
    seeded_db: str,
) -> None:
    async def go(store: RequestStore) -> tuple[object, ...]:
        rid = await scripting(store)
        now = await store.transition(
            rid,
            Status.generating_script,
            Status.generating_audio,
            lease=LEASE,
            hand_over_seconds=30,
        )
        assert now.status == Status.generating_audio
        # Another worker's claim is refused while the handed-over lease lives.
        assert await store.claim(rid, (Status.generating_audio,), Lease("task-2", 0), 30) is None
        return await execution(store, rid)

    assert run(seeded_db, go) == ("audio", LEASE.task_id, LEASE.attempt, True, 1, 0, 0)


def test_a_handed_over_lease_that_lapses_is_taken_over_as_a_crash(seeded_db: str) -> None:
    """The worker that was handed the next stage died before finishing it: its lease runs
    out, and the watchdog's message claims the request, counting one crash."""

    async def go(store: RequestStore) -> tuple[object, ...]:
        rid = await scripting(store)
        await store.transition(
            rid, Status.generating_script, Status.generating_audio, lease=LEASE, hand_over_seconds=0
        )
        taken = await store.claim(rid, (Status.generating_audio,), Lease("task-2", 0), 30)
        assert taken is not None and taken.row.status == Status.generating_audio
        return await execution(store, rid)

    assert run(seeded_db, go) == ("audio", "task-2", 0, True, 2, 1, 1)


def test_only_a_leased_transition_to_a_stage_hands_over(seeded_db: str) -> None:
    async def go(store: RequestStore) -> None:
        rid = await scripting(store)
        with pytest.raises(ValueError, match="hands its lease over"):
            await store.transition(
                rid, Status.generating_script, Status.generating_audio, hand_over_seconds=30
            )
        with pytest.raises(ValueError, match="hands its lease over"):
            await store.transition(
                rid, Status.generating_script, Status.failed, lease=LEASE, hand_over_seconds=30
            )

    run(seeded_db, go)


@pytest.mark.parametrize(
    ("statement", "index", "params"),
    [
        ("_INFLIGHT_LEADER", "idx_content_requests_inflight_leader", ["key-7", "req-x"]),
        (
            "_FOLLOWERS",
            "idx_content_requests_followers",
            ["req-7", ["cache_check", "fast_path_ready"]],
        ),
    ],
)
def test_single_flight_lookups_read_their_index_not_every_request(
    migrated_db: str, statement: str, index: str, params: list[object]
) -> None:
    """With thousands of requests generating and finished (a backlog, months of history),
    the leader and follower lookups go straight to their rows (migration 008); if a
    statement's WHERE drifts from its index's predicate, the planner scans instead."""
    sql = getattr(statements, statement).sql
    with connect(migrated_db) as conn:
        conn.execute("SET session_replication_role = replica")  # no FKs, no triggers
        conn.execute(
            "INSERT INTO content_requests (id, student_id, original_query, status, metadata) "
            "SELECT 'req-' || g, 'student', 'q', "
            "(ARRAY['cache_check', 'generating_script', 'generating_audio', 'fast_path_ready',"
            " 'generating_video', 'completed', 'completed'])[1 + g % 7]::request_status, "
            "jsonb_build_object('cache_key', 'key-' || g, 'leader_id', 'req-' || (g / 3),"
            " 'role', CASE WHEN g % 3 = 0 THEN 'follower' ELSE 'leader' END) "
            "FROM generate_series(1, 20000) g"
        )
        conn.execute("ANALYZE content_requests")

    async def plan() -> str:
        pg = await asyncpg.connect(libpq_url(migrated_db))
        try:
            return str(await pg.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *params))
        finally:
            await pg.close()

    assert f'"Index Name": "{index}"' in asyncio.run(plan())

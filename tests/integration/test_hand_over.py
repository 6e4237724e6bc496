"""The lease handed over from a stage to the next one the same worker runs (the NLU to the
cache check, the script to the audio: workers/routing.py, runs_here), stage by stage in
this process: the next stage starts with the claim its predecessor's completion made, and
sends no claim of its own.

On the session's seeded database, not the pipeline's: its cache miss takes none of the
few leaf topics the worker tests hand out as fresh (tests/workers/helpers.fresh_topic)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from db.requests import Claim, Lease, RequestStore
from db.session import create_engine
from pipeline.api import PipelineAPI
from pipeline.context import Context
from pipeline.runner import Dispatch, run_stage
from pipeline.stages import SPECS
from pipeline.states import STAGE_FOR_STATUS, Stage, Status
from tests.support import asyncpg_url, connect

# What the generation and fast workers run in one delivery.
CONTINUED = {Stage.nlu: Stage.cache_check, Stage.script: Stage.audio}


@pytest.fixture
async def seeded_ctx(ctx: Context, seeded_db: str) -> AsyncIterator[tuple[Context, str]]:
    engine = create_engine(asyncpg_url(seeded_db))
    yield dataclasses.replace(ctx, engine=engine), seeded_db
    await engine.dispose()


async def test_a_stage_run_next_in_the_same_delivery_starts_with_the_handed_over_claim(
    seeded_ctx: tuple[Context, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, dbname = seeded_ctx
    sent: list[Dispatch] = []
    api = PipelineAPI(ctx.engine, sent.append)
    rid = await api.submit_request("user_demo_student_1", "explain Newton's second law")

    claims: list[Stage] = []
    claim = RequestStore.claim

    async def counted(
        self: RequestStore, request_id: str, statuses: tuple[Status, ...], *args: Any
    ) -> Claim | None:
        claims.append(STAGE_FOR_STATUS[statuses[0]])
        return await claim(self, request_id, statuses, *args)

    monkeypatch.setattr(RequestStore, "claim", counted)

    ran: list[Stage] = []
    while sent:
        d = sent.pop(0)
        lease = Lease(str(uuid.uuid4()), 0)
        handed: Claim | None = None
        stage = d.stage
        while True:  # one delivery: its stage, and the one handed over to, if any
            ran.append(stage)
            run = await run_stage(
                SPECS[stage],
                ctx,
                d.request_id,
                lease,
                hand_over=lambda s, stage=stage: CONTINUED.get(stage) == s,
                claimed=handed,
            )
            assert run.outcome == "ok", run.outcome
            handed = run.handed
            if handed is None:
                sent += run
                break
            stage = STAGE_FOR_STATUS[handed.row.status]
            assert stage == CONTINUED[ran[-1]] and handed.row.id == rid
            assert (handed.deliveries, handed.crashes, handed.attempts) == (1, 0, 0)
            # The handed-over stage's task is not sent: this delivery runs it.
            sent += [x for x in run if x != Dispatch(stage, rid)]
            assert _lease_of(dbname, rid) == (str(stage), lease.task_id, True)

    with connect(dbname) as c:
        assert c.execute(
            "SELECT status FROM content_requests WHERE id = %s", (rid,)
        ).fetchone() == ("completed",)
    assert ran == [Stage.nlu, Stage.cache_check, Stage.script, Stage.audio, Stage.video]
    assert claims == [Stage.nlu, Stage.script, Stage.video]  # one claim per delivery


def _lease_of(dbname: str, rid: str) -> tuple[str, str, bool]:
    """(stage, lease holder, lease live) of the request's execution row."""
    with connect(dbname) as c:
        found = c.execute(
            "SELECT stage, lease_task_id, lease_expires_at > clock_timestamp() "
            "FROM request_execution WHERE request_id = %s",
            (rid,),
        ).fetchone()
    assert found is not None
    return found[0], found[1], found[2]

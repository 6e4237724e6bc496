"""SIGKILL in the middle of a stage: the request still ends, with one content row."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tests import fakes
from tests.support import TEST_ENV, WorkerProcess, connect, wait_for
from tests.workers.helpers import fresh_topic, row, scalar, settle

pytestmark = pytest.mark.usefixtures("fakes")
STUDENT = "user_demo_student_1"


def content_rows(request_id: str) -> int:
    key = row(request_id)["metadata"]["cache_key"]
    return scalar("SELECT count(*) FROM generated_content WHERE cache_key = %s", key)


async def test_killed_pool_child_is_redelivered_and_completes(api, worker) -> None:
    fakes.set_failure("speech", "slow 3")
    _, query = fresh_topic()
    rid = await api.submit_request(STUDENT, query)
    await asyncio.to_thread(wait_for, lambda: fakes.callers("speech"), 30)
    os.kill(fakes.callers("speech")[0], signal.SIGKILL)  # the child in the audio stage
    fakes.set_failure("speech", None)

    r = await settle(rid, within=60)
    assert r["status"] == "completed"
    assert len(fakes.callers("speech")) == 2  # the killed attempt and the redelivery
    assert content_rows(rid) == 1


async def test_killed_worker_is_rescued_by_the_watchdog_after_restart(api, worker, ctx) -> None:
    from pipeline.jobs import run_job
    from workers.app import app
    from workers.tasks import send

    # Only a victim worker consumes the audio queue for now.
    app.control.cancel_consumer("audio", destination=[worker.name], reply=True)
    try:
        with WorkerProcess.start(concurrency=1, queues="audio") as victim:
            fakes.set_failure("speech", "slow 30")
            _, query = fresh_topic()
            rid = await api.submit_request(STUDENT, query)
            await asyncio.to_thread(wait_for, lambda: fakes.callers("speech"), 30)
            victim.kill()  # main process and child: the message stays unacked in Redis
        fakes.set_failure("speech", None)
    finally:
        app.control.add_consumer("audio", destination=[worker.name], reply=True)

    assert row(rid)["status"] == "generating_audio"
    # Time passes beyond the audio stage's hard limit (without waiting for it).
    with connect(TEST_ENV.database) as c:
        c.execute("SET session_replication_role = replica")
        c.execute(
            "UPDATE content_requests SET updated_at = now() - interval '10 minutes' WHERE id = %s",
            (rid,),
        )
    result = await run_job(ctx, "watchdog")
    assert any(d.request_id == rid for d in result.dispatches)
    send(result.dispatches)

    r = await settle(rid, within=60)
    assert r["status"] == "completed"
    assert r["metadata"]["watchdog_resends"] == 1
    assert content_rows(rid) == 1

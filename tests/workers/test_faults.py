"""SIGKILL in the middle of a stage: the request still ends, with one content row."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests import fakes
from tests.support import WorkerProcess, wait_for
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
    victim = fakes.callers("speech")[0]
    scratch = Path(os.environ["SCRATCH_DIR"])
    assert scratch_folders_of(victim, scratch)  # the audio stage's, open while it speaks
    os.kill(victim, signal.SIGKILL)  # the child in the audio stage
    fakes.set_failure("speech", None)

    r = await settle(rid, within=60)
    assert r["status"] == "completed"
    assert len(fakes.callers("speech")) == 2  # the killed attempt and the redelivery
    assert content_rows(rid) == 1
    # The child started in the killed one's place removed the folder it left.
    await asyncio.to_thread(wait_for, lambda: not scratch_folders_of(victim, scratch), 30)


def scratch_folders_of(pid: int, scratch: Path) -> list[Path]:
    return [p for p in scratch.iterdir() if p.name.startswith(f"{pid}-")]


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


async def test_killed_voice_process_costs_the_audio_stage_a_retry_not_the_lesson(
    api, worker
) -> None:
    fakes.set_media("real")  # narrated by the worker's voice process
    voice = await asyncio.to_thread(wait_for, worker.voice_process, 10)
    _, query = fresh_topic()
    rid = await api.submit_request(STUDENT, query)
    idle = cpu_ticks(voice)
    await asyncio.to_thread(
        wait_for,
        lambda: row(rid)["status"] == "generating_audio" and cpu_ticks(voice) > idle + 20,
        60,
    )
    os.kill(voice, signal.SIGKILL)  # while it loads the voice or speaks this lesson

    r = await settle(rid, within=120)
    assert (r["status"], r["error_message"]) == ("completed", None)
    assert fakes.calls("speech") == 2  # the attempt that lost its voice, and the retry
    assert content_rows(rid) == 1
    restarted = await asyncio.to_thread(
        wait_for, lambda: worker.voice_process() not in (None, voice), 10
    )
    assert restarted != voice
    exits = worker.events("the voice process exited; starting it again")
    assert exits and exits[-1]["exit_code"] == -signal.SIGKILL


async def test_killed_worker_is_rescued_by_the_watchdog_once_its_lease_dies(
    api, worker, ctx
) -> None:
    from pipeline.jobs import run_job
    from workers.app import app
    from workers.client import send

    # Only a victim worker consumes the script and audio queues for now: it narrates in
    # the script message's delivery (runs_here), so no audio message exists to come back.
    for queue in ("script", "audio"):
        app.control.cancel_consumer(queue, destination=[worker.name], reply=True)
    try:
        with WorkerProcess.start(concurrency=1, queues="script,audio") as victim:
            fakes.set_failure("speech", "slow 30")
            _, query = fresh_topic()
            rid = await api.submit_request(STUDENT, query)
            await asyncio.to_thread(wait_for, lambda: fakes.callers("speech"), 30)
            assert set(fakes.callers("speech")) <= set(victim.children())
            victim.kill()  # main process and child: the message stays unacked in Redis
        fakes.set_failure("speech", None)
    finally:
        for queue in ("script", "audio"):
            app.control.add_consumer(queue, destination=[worker.name], reply=True)

    assert row(rid)["status"] == "generating_audio"
    # Nothing is re-sent while the dead worker's lease still runs (LEASE_SECONDS=3) …
    assert rid not in {d.request_id for d in (await run_job(ctx, "watchdog")).dispatches}
    # … and at the first sweep after it ran out, whatever the audio stage's hard limit.
    await asyncio.to_thread(
        wait_for,
        lambda: scalar(
            "SELECT lease_expires_at < clock_timestamp() FROM request_execution "
            "WHERE request_id = %s",
            rid,
        ),
        10,
    )
    result = await run_job(ctx, "watchdog")
    assert [d.stage for d in result.dispatches if d.request_id == rid] == ["audio"]
    send(result.dispatches)

    r = await settle(rid, within=60)
    assert r["status"] == "completed"
    assert r["error_message"] is None
    assert content_rows(rid) == 1

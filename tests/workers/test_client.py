"""VividlyClient on the real worker, PostgreSQL and Redis: live progress events from
LISTEN/NOTIFY (with a dropped listener connection), and cancellation."""

from __future__ import annotations

import asyncio
import json

import pytest

from pipeline.errors import RequestError
from pipeline.views import RequestEvent
from tests import fakes
from tests.support import TEST_ENV, connect
from tests.workers.helpers import FULL_MISS, content, fresh_pair, row, settle

pytestmark = pytest.mark.usefixtures("fakes")

STUDENT = "user_demo_student_3"
OTHER = "user_demo_student_1"


async def collect(client, request_id: str, within: float = 60) -> list[RequestEvent]:
    async def run() -> list[RequestEvent]:
        return [e async for e in client.events(request_id)]

    return await asyncio.wait_for(run(), within)


def assert_chain(events: list[RequestEvent]) -> None:
    """The first event is the state at subscription; each later one follows on from it."""
    assert events[0].from_status is None
    for before, after in zip(events, events[1:], strict=False):
        assert after.from_status == before.to_status, [e.to_status for e in events]
    assert events[-1].terminal


async def test_events_follow_a_request_from_submit_to_completed(client) -> None:
    query, interest = fresh_pair()
    fakes.set_failure("script", "slow 1")  # the subscription starts before the lesson exists
    rid = await client.submit(STUDENT, query, interest_id=interest)
    events = await collect(client, rid)
    assert_chain(events)
    statuses = [e.to_status for e in events]
    # Subscribed after the submit: the stream starts at the state the request had reached
    # (the first stages take milliseconds) and from there misses no step of the path.
    assert statuses == FULL_MISS[FULL_MISS.index(statuses[0]) :]
    assert "fast_path_ready" in statuses[1:]
    fast = next(e for e in events if e.to_status == "fast_path_ready")
    assert fast.content and fast.content["audio_url"].endswith("audio.mp3")
    done = events[-1].content or {}
    view = await client.get(rid)
    assert done["video_url"] == view.video_url and done["lesson_page_url"] == view.lesson_page_url
    # Ids, statuses, times and locations only: never the student's words.
    wire = json.dumps([e.model_dump(mode="json") for e in events])
    assert query not in wire and "explain" not in wire


async def test_a_subscriber_resynchronises_after_its_connection_drops(client) -> None:
    query, interest = fresh_pair()
    fakes.set_failure("script", "slow 3")
    rid = await client.submit(STUDENT, query, interest_id=interest)
    stream = asyncio.create_task(collect(client, rid))
    await asyncio.to_thread(wait_status, rid, "generating_script")
    # Cut the listener's connection, as a PostgreSQL restart or a proxy timeout would.
    with connect(TEST_ENV.database) as c:
        cut = c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
        ).fetchall()
    assert cut, "no LISTEN connection found"
    events = await stream
    assert events[-1].to_status == "completed"
    for before, after in zip(events, events[1:], strict=False):
        # After the cut, the row is read again: what comes next is never a step back.
        assert after.to_status != before.to_status


def wait_status(rid: str, status: str, within: float = 30) -> None:
    import time

    deadline = time.monotonic() + within
    while row(rid)["status"] != status:
        assert time.monotonic() < deadline, f"{rid} never reached {status}"
        time.sleep(0.02)


async def test_cancel_abandons_a_running_provider_call_at_the_next_heartbeat(client) -> None:
    query, interest = fresh_pair()
    fakes.set_failure("speech", "slow 30")
    rid = await client.submit(STUDENT, query, interest_id=interest)
    await asyncio.to_thread(wait_status, rid, "generating_audio")
    await asyncio.sleep(0.2)  # the worker is inside the 30 s call now
    marked = await client.cancel(rid)
    assert marked.cancel_requested and marked.status == "generating_audio"
    loop = asyncio.get_running_loop()
    started = loop.time()
    r = await settle(rid, within=15)
    # LEASE_SECONDS=3 in tests: a heartbeat every second.
    assert loop.time() - started < 5
    assert (r["status"], r["error_message"]) == ("failed", "Cancelled.")
    assert r["metadata"]["cancelled"]["stage"] == "audio"
    view = await client.get(rid)
    assert view.cancelled is not None and view.status == "failed"


async def test_cancel_of_a_request_nobody_works_on_ends_it_at_once(client) -> None:
    rid = await client.submit(STUDENT, "atoms")  # too vague: it asks for a clarification
    assert (await settle(rid))["status"] == "needs_clarification"
    view = await client.cancel(rid)
    assert (view.status, view.error_message) == ("failed", "Cancelled.")
    assert view.cancelled == {"at": view.cancelled["at"], "stage": "nlu"}
    with pytest.raises(RequestError, match="already failed; only a request in progress"):
        await client.cancel(rid)
    # A cancelled request can be retried like any failed one.
    await client.retry(rid)
    assert (await settle(rid))["status"] == "needs_clarification"


async def cancel_a_followed_leader(client, slow: str, status: str) -> tuple[str, str]:
    """A leader slowed down at `slow`, a follower attached to it while it is in `status`,
    and the leader cancelled: (leader, follower)."""
    query, interest = fresh_pair()
    fakes.set_failure(slow, "slow 2")
    # Same topic, interest and style: the same cache key, so the second one follows.
    leader = await client.submit(STUDENT, query, interest_id=interest)
    await asyncio.to_thread(wait_status, leader, status)
    follower = await client.submit(OTHER, query, interest_id=interest)
    await settle_meta(follower, "role", "follower")
    await client.cancel(leader)
    return leader, follower


async def test_cancelling_a_leader_keeps_the_generation_for_its_followers(client) -> None:
    leader, follower = await cancel_a_followed_leader(client, "script", "generating_script")
    lead = await settle(leader, within=60)
    f = await settle(follower, within=60)
    assert f["status"] == "completed" and f["generated_content_id"]
    assert (lead["status"], lead["error_message"]) == ("failed", "Cancelled.")
    # One generation, kept: the follower has the leader's lesson, made once.
    assert fakes.calls("script") == 1 and fakes.calls("speech") == 1
    assert content(f["generated_content_id"])["video_url"]


async def test_a_leader_cancelled_while_it_renders_completes_its_followers_then_ends(
    client,
) -> None:
    leader, follower = await cancel_a_followed_leader(client, "video", "generating_video")
    lead = await settle(leader, within=60)
    f = await settle(follower, within=60)
    assert (lead["status"], lead["error_message"]) == ("failed", "Cancelled.")
    assert lead["metadata"]["cancelled"]["stage"] == "video"
    # The follower has the video the leader rendered, once, before it ended.
    assert f["status"] == "completed" and f["generated_content_id"]
    assert content(f["generated_content_id"])["video_url"]
    assert fakes.calls("video") == 1


async def settle_meta(rid: str, key: str, value: str, within: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (await asyncio.to_thread(row, rid))["metadata"].get(key) != value:
        assert loop.time() < deadline, f"{rid}: metadata {key} never became {value}"
        await asyncio.sleep(0.02)


def test_the_cli_cancels_and_refuses_to_cancel_twice() -> None:
    import subprocess
    import sys

    def vividly(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "workers.cli", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    submitted = vividly("submit", "--student", STUDENT, "--wait", "atoms")
    rid = submitted.stdout.split()[-1]
    first = vividly("cancel", rid)
    assert first.returncode == 0 and f"{rid} failed (cancelled)" in first.stdout, first.stderr
    again = vividly("cancel", rid)
    assert again.returncode == 1 and "already failed" in again.stderr

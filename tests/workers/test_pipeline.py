"""The pipeline end to end: a real PostgreSQL, Redis broker and Celery worker process."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.errors import RequestError
from tests import fakes
from tests.support import wait_for
from tests.workers.helpers import (
    FULL_MISS,
    BrokerTap,
    content,
    fresh_topic,
    history,
    row,
    scalar,
    settle,
    task_names,
)

pytestmark = pytest.mark.usefixtures("fakes")

STUDENT = "user_demo_student_1"  # ranked interests: basketball, video games


async def test_cache_miss_walks_every_working_status_to_completed(api) -> None:
    topic_id, query = fresh_topic()
    rid = await api.submit_request(STUDENT, query)
    r = await settle(rid)
    assert history(r) == FULL_MISS
    assert r["topic_id"] == topic_id
    assert r["interest_id"] == "int_basketball"  # the student's rank-1 interest
    assert r["cache_hit"] is False and r["completed_at"] is not None
    c = content(r["generated_content_id"])
    assert c["content_type"] == "vivid_learning"
    assert c["script_url"].endswith(f"content/{c['cache_key']}/script.json")
    assert c["audio_url"].endswith("/audio.mp3") and c["video_url"].endswith("/video.mp4")
    assert c["thumbnail_url"].endswith("/thumbnail.jpg")
    assert c["duration_seconds"] > 0 and c["file_size_bytes"] > 0
    assert c["generation_metadata"]["video"]
    assert (fakes.calls("script"), fakes.calls("speech"), fakes.calls("video")) == (1, 1, 1)


async def test_second_identical_request_is_a_full_cache_hit(api) -> None:
    _, query = fresh_topic()
    first = await settle(await api.submit_request(STUDENT, query))
    second = await settle(await api.submit_request(STUDENT, query))
    assert history(second) == ["nlu_processing", "cache_check", "completed"]
    assert second["cache_hit"] is True
    assert second["generated_content_id"] == first["generated_content_id"]
    assert fakes.calls("script") == 1


async def test_a_next_stage_this_worker_takes_runs_in_the_same_delivery(api) -> None:
    # The session's worker takes every queue: the worker that ran NLU would take the cache
    # check anyway, and the one that wrote the script the audio, so each runs at once
    # instead of queueing behind a backlog. The video (600 s) never fits in what is left
    # of the audio's time: it is a message of its own.
    _, query = fresh_topic()
    with BrokerTap() as tap:
        miss = await settle(await api.submit_request(STUDENT, query))
        hit = await settle(await api.submit_request(STUDENT, query))
    assert history(miss) == FULL_MISS
    assert history(hit) == ["nlu_processing", "cache_check", "completed"] and hit["cache_hit"]
    stages = ["pipeline.nlu", "pipeline.script", "pipeline.video"]
    assert task_names(tap.commands, miss["id"]) == stages
    assert task_names(tap.commands, hit["id"]) == ["pipeline.nlu"]


async def test_interest_named_in_query_wins_over_ranking(api) -> None:
    topic_id, _ = fresh_topic()
    title = scalar("SELECT title FROM topics WHERE id = %s", topic_id)
    r = await settle(await api.submit_request(STUDENT, f"explain {title} with skateboarding"))
    assert r["interest_id"] == "int_skateboarding"
    assert r["metadata"]["nlu"]["interest_source"] == "query"


async def test_video_failing_for_good_degrades_to_vivid_now(api) -> None:
    _, query = fresh_topic()
    fakes.set_failure("video", "permanent")
    r = await settle(await api.submit_request(STUDENT, query))
    assert r["status"] == "completed"
    assert history(r)[-3:] == ["fast_path_ready", "generating_video", "completed"]
    assert "Video could not be made" in r["error_message"]
    assert r["metadata"]["failed_stage"] == "video"
    c = content(r["generated_content_id"])
    assert c["content_type"] == "vivid_now" and c["audio_url"] and c["video_url"] is None

    # A later request for the same key is a fast-path hit and upgrades the content.
    fakes.set_failure("video", None)
    again = await settle(await api.submit_request(STUDENT, query))
    assert history(again) == [
        "nlu_processing",
        "cache_check",
        "fast_path_ready",
        "generating_video",
        "completed",
    ]
    assert again["cache_hit"] is True and again["error_message"] is None
    assert content(again["generated_content_id"])["content_type"] == "vivid_learning"
    assert fakes.calls("script") == 1 and fakes.calls("speech") == 1


async def test_transient_failures_retry_then_complete(api) -> None:
    _, query = fresh_topic()
    fakes.set_failure("script", "transient 2")
    r = await settle(await api.submit_request(STUDENT, query))
    assert r["status"] == "completed"
    assert r["retry_count"] == 2
    assert fakes.calls("script") == 3


async def test_provider_that_always_fails_ends_failed_with_a_message(api) -> None:
    _, query = fresh_topic()
    fakes.set_failure("speech", "transient always")
    r = await settle(await api.submit_request(STUDENT, query))
    assert r["status"] == "failed"
    assert r["retry_count"] == 3  # 4 attempts
    assert fakes.calls("speech") == 4
    assert "audio stage still failed after 4 attempts" in r["error_message"]
    assert r["metadata"]["failed_stage"] == "audio"
    assert r["metadata"]["error_kind"] == "exhausted"


async def test_permanent_failure_fails_at_once_and_retry_resumes_there(api) -> None:
    _, query = fresh_topic()
    fakes.set_failure("script", "permanent")
    rid = await api.submit_request(STUDENT, query)
    r = await settle(rid)
    assert r["status"] == "failed" and r["retry_count"] == 0
    assert r["metadata"]["failed_stage"] == "script"
    assert fakes.calls("script") == 1

    fakes.set_failure("script", None)
    assert await api.retry_request(rid) == "script"
    r = await settle(rid)
    assert r["status"] == "completed" and r["error_message"] is None
    assert fakes.calls("nlu") == 1  # earlier outputs kept: NLU did not run again


async def test_unsafe_and_gibberish_queries_fail_with_clear_messages(api) -> None:
    unsafe = await settle(await api.submit_request(STUDENT, "how do i make a pipe bomb at home"))
    assert unsafe["status"] == "failed"
    assert "content-safety check (weapons)" in unsafe["error_message"]
    assert fakes.calls("nlu") == 0  # the gate runs before NLU

    gibberish = await settle(await api.submit_request(STUDENT, "asdkjh qwpoeiru zxmcnv"))
    assert gibberish["status"] == "failed"
    assert "No STEM topic was recognised" in gibberish["error_message"]


async def test_clarification_by_choosing_a_topic(api) -> None:
    rid = await api.submit_request(STUDENT, "energy")
    r = await settle(rid)
    assert r["status"] == "needs_clarification"
    options = r["metadata"]["clarification"]["options"]
    assert 2 <= len(options) <= 4
    view = await api.get_request(rid)
    assert view["clarification"]["options"] == options

    chosen = options[1]["topic_id"]
    await api.clarify(rid, topic_id=chosen)
    r = await settle(rid, {"completed", "failed"})
    assert r["status"] == "completed" and r["topic_id"] == chosen
    assert history(r)[:3] == ["nlu_processing", "needs_clarification", "cache_check"]


async def test_clarification_by_free_text_answer(api) -> None:
    rid = await api.submit_request(STUDENT, "energy")
    assert (await settle(rid))["status"] == "needs_clarification"
    await api.clarify(rid, answer="the one about photosynthesis in plants and sunlight")
    r = await settle(rid, {"completed", "failed"})
    assert r["status"] == "completed"
    assert r["topic_id"] == "topic_bio_photosynthesis"
    assert history(r)[:4] == [
        "nlu_processing",
        "needs_clarification",
        "nlu_processing",
        "cache_check",
    ]


async def test_clarifying_a_request_that_is_not_waiting_is_an_error(api) -> None:
    _, query = fresh_topic()
    rid = await api.submit_request(STUDENT, query)
    await settle(rid)
    with pytest.raises(RequestError, match="is not waiting for a clarification"):
        await api.clarify(rid, topic_id="topic_phys_newton_3")
    with pytest.raises(RequestError, match="exactly one"):
        await api.clarify(rid)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"student_id": "user_nobody", "query": "newton's third law"}, "Unknown student"),
        ({"student_id": "user_demo_teacher", "query": "newton"}, "Unknown student"),
        ({"student_id": STUDENT, "query": "   "}, "The query is empty"),
        ({"student_id": STUDENT, "query": "x" * 2001}, "the limit is 2000"),
        (
            {"student_id": STUDENT, "query": "newton", "interest_id": "int_nope"},
            "Unknown interest",
        ),
        ({"student_id": STUDENT, "query": "newton", "style": "shouty"}, "Unknown style"),
    ],
)
async def test_bad_submissions_are_refused_and_write_nothing(api, kwargs, message) -> None:
    before = scalar("SELECT count(*) FROM content_requests")
    with pytest.raises(RequestError, match=message):
        await api.submit_request(**kwargs)
    assert scalar("SELECT count(*) FROM content_requests") == before


async def test_twenty_concurrent_identical_requests_generate_once(api) -> None:
    _, query = fresh_topic()
    ids = await asyncio.gather(*(api.submit_request(STUDENT, query) for _ in range(20)))
    rows = await asyncio.gather(*(settle(rid, within=120) for rid in ids))
    assert {r["status"] for r in rows} == {"completed"}
    assert len({r["generated_content_id"] for r in rows}) == 1
    assert (fakes.calls("script"), fakes.calls("speech"), fakes.calls("video")) == (1, 1, 1)
    assert sum(r["cache_hit"] for r in rows) == 19
    key = rows[0]["metadata"]["cache_key"]
    assert scalar("SELECT count(*) FROM generated_content WHERE cache_key = %s", key) == 1


async def test_a_follower_takes_over_when_the_leader_fails(api) -> None:
    _, query = fresh_topic()
    fakes.set_failure("script", "transient 4")  # the leader's four attempts all fail
    ids = await asyncio.gather(*(api.submit_request(STUDENT, query) for _ in range(3)))
    rows = await asyncio.gather(*(settle(rid, within=90) for rid in ids))
    statuses = sorted(r["status"] for r in rows)
    assert statuses == ["completed", "completed", "failed"], [
        (r["status"], r["retry_count"], r["metadata"]) for r in rows
    ]
    assert len({r["generated_content_id"] for r in rows if r["status"] == "completed"}) == 1
    assert fakes.calls("script") == 5 and fakes.calls("speech") == 1
    # One follower led again; the other stayed attached, to it, and was served as a hit.
    completed = [r for r in rows if r["status"] == "completed"]
    assert sorted(r["cache_hit"] for r in completed) == [False, True]


async def test_duplicate_and_late_deliveries_are_harmless(api, worker) -> None:
    from pipeline.states import Stage
    from workers.app import app, task_name

    _, query = fresh_topic()
    rid = await api.submit_request(STUDENT, query)
    for stage in Stage:  # early duplicates of every stage, while the request runs
        app.send_task(task_name(stage), args=[rid])
    first = await settle(rid)
    for stage in Stage:  # late duplicates, after it finished
        app.send_task(task_name(stage), args=[rid])
        app.send_task(task_name(stage), args=[rid])

    def skipped() -> int:
        return sum(
            1
            for line in worker.log_text().splitlines()
            if '"stage skipped"' in line and rid in line
        )

    await asyncio.to_thread(wait_for, lambda: skipped() >= 10, 30)
    r = row(rid)
    assert r["status"] == "completed" and history(r) == history(first) == FULL_MISS
    assert r["updated_at"] == first["updated_at"]
    assert (fakes.calls("script"), fakes.calls("speech"), fakes.calls("video")) == (1, 1, 1)
    key = r["metadata"]["cache_key"]
    assert scalar("SELECT count(*) FROM generated_content WHERE cache_key = %s", key) == 1


async def test_a_permanent_leader_failure_fails_its_followers_with_the_same_message(api) -> None:
    _, query = fresh_topic()
    fakes.set_failure("script", "slow 1.5")  # the followers attach while the leader writes
    fakes.set_failure("speech", "permanent")
    ids = await asyncio.gather(*(api.submit_request(STUDENT, query) for _ in range(4)))
    rows = await asyncio.gather(*(settle(rid, within=60) for rid in ids))
    assert {r["status"] for r in rows} == {"failed"}
    assert len({r["error_message"] for r in rows}) == 1
    # The followers did not each lead and fail again in turn.
    assert (fakes.calls("script"), fakes.calls("speech")) == (1, 1)
    followers = [r for r in rows if r["metadata"].get("failed_with_leader")]
    assert len(followers) == 3


async def test_a_retry_joins_the_generation_in_flight_for_its_key(api) -> None:
    _, query = fresh_topic()
    fakes.set_failure("script", "permanent")
    first = await settle(await api.submit_request(STUDENT, query))
    assert first["status"] == "failed"
    fakes.set_failure("script", None)
    fakes.set_failure("speech", "slow 2")
    leader = await api.submit_request(STUDENT, query)
    await settle(leader, {"generating_audio"}, within=30)
    await api.retry_request(first["id"])  # re-enters through the key's lock: it follows
    rows = [await settle(rid, within=60) for rid in (leader, first["id"])]
    assert [r["status"] for r in rows] == ["completed", "completed"]
    assert rows[1]["cache_hit"] and rows[1]["metadata"]["leader_id"] == leader
    assert rows[0]["generated_content_id"] == rows[1]["generated_content_id"]
    assert (fakes.calls("script"), fakes.calls("speech")) == (2, 1)  # no second leader


async def test_a_retry_is_served_content_finished_meanwhile(api) -> None:
    _, query = fresh_topic()
    fakes.set_failure("speech", "permanent")
    first = await settle(await api.submit_request(STUDENT, query))
    assert first["status"] == "failed" and first["metadata"]["failed_stage"] == "audio"
    fakes.set_failure("speech", None)
    other = await settle(await api.submit_request(STUDENT, query))
    assert other["status"] == "completed"
    await api.retry_request(first["id"])
    r = await settle(first["id"], {"completed", "failed"})
    assert r["status"] == "completed" and r["cache_hit"]
    assert r["metadata"]["cache"] == "full_hit"
    assert r["generated_content_id"] == other["generated_content_id"]
    assert fakes.calls("speech") == 2  # the failed try and the other request: no third


async def test_past_the_district_budget_misses_are_refused_and_hits_still_served(api) -> None:
    from pipeline.budgets import BUDGET_MESSAGE
    from tests.support import TEST_ENV, connect

    _, cached = fresh_topic()
    assert (await settle(await api.submit_request(STUDENT, cached)))["status"] == "completed"
    _, fresh = fresh_topic()

    def set_budget(value: str | None) -> None:
        with connect(TEST_ENV.database) as c:
            c.execute(
                "UPDATE organizations SET metadata = CASE WHEN %s::text IS NULL "
                "THEN metadata - 'daily_budget_usd' "
                "ELSE metadata || jsonb_build_object('daily_budget_usd', %s::text) END "
                "WHERE id = 'org_demo_district'",
                (value, value),
            )

    set_budget("0")  # nothing more today
    try:
        miss = await settle(await api.submit_request(STUDENT, fresh))
        hit = await settle(await api.submit_request(STUDENT, cached))
    finally:
        set_budget(None)
    assert (miss["status"], miss["error_message"]) == ("failed", BUDGET_MESSAGE)
    assert miss["metadata"]["failed_stage"] == "cache_check"
    assert hit["status"] == "completed" and hit["cache_hit"] is True
    assert fakes.calls("script") == 1  # only the first lesson was written

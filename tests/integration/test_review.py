"""The content review gate, stage by stage in this process (the runner and stages are
plain async code): a flagged lesson is never served from the cache; it is regenerated,
or a request waits for its review and goes on once it is approved."""

from __future__ import annotations

import dataclasses

from pipeline import review
from pipeline.api import PipelineAPI
from pipeline.context import Context
from pipeline.runner import Dispatch
from tests.support import TEST_ENV, connect, run_all
from tests.workers.helpers import content, fresh_topic, row

INTEREST = "int_cooking"


def audit_actions(content_id: str) -> list[str]:
    with connect(TEST_ENV.database) as c:
        rows = c.execute(
            "SELECT action FROM audit_logs WHERE resource_id = %s ORDER BY created_at",
            (content_id,),
        ).fetchall()
    return [r[0] for r in rows]


async def first_lesson(ctx: Context, api: PipelineAPI, sent: list[Dispatch]) -> tuple[str, str]:
    """A fresh topic's lesson, made for one student: (its query, the request id)."""
    _, query = fresh_topic()
    first = await api.submit_request("user_demo_student_1", query, INTEREST)
    await run_all(ctx, sent)
    assert row(first)["status"] == "completed"
    return query, first


async def test_a_flagged_lesson_is_regenerated_not_served(ctx) -> None:
    sent: list[Dispatch] = []
    api = PipelineAPI(ctx.engine, sent.append)
    query, first = await first_lesson(ctx, api, sent)
    flagged_id = row(first)["generated_content_id"]

    assert await review.review(ctx.engine, flagged_id, "flagged", "user_demo_teacher") == []
    view = await api.get_request(first)
    assert view["content_review"] == "flagged" and view["notice"] == review.REVIEW_NOTICE

    second = await api.submit_request("user_demo_student_2", query, INTEREST)
    stages = await run_all(ctx, sent)
    r = row(second)
    assert r["status"] == "completed" and r["cache_hit"] is False
    assert stages == ["nlu", "cache_check", "script", "audio", "video"]
    assert r["generated_content_id"] != flagged_id
    old = content(flagged_id)
    assert old["manual_review_status"] == "flagged" and old["cache_key"].startswith("retired:")
    assert old["generation_metadata"]["review"]["by"] == "user_demo_teacher"
    assert audit_actions(flagged_id) == ["content.review.flagged"]


async def test_with_wait_a_request_waits_for_the_review_then_is_served(ctx) -> None:
    wait_ctx = dataclasses.replace(
        ctx, settings=ctx.settings.model_copy(update={"review_flagged": "wait"})
    )
    sent: list[Dispatch] = []
    api = PipelineAPI(ctx.engine, sent.append)
    query, first = await first_lesson(wait_ctx, api, sent)
    lesson = row(first)["generated_content_id"]
    await review.review(ctx.engine, lesson, "flagged")

    waiting = await api.submit_request("user_demo_student_2", query, INTEREST)
    assert await run_all(wait_ctx, sent) == ["nlu", "cache_check"]
    r = row(waiting)
    assert r["status"] == "cache_check" and r["metadata"]["review_wait"] == lesson
    assert (await api.get_request(waiting))["notice"] == review.WAITING_NOTICE

    sent += await review.review(ctx.engine, lesson, "approved", "user_demo_teacher")
    assert await run_all(wait_ctx, sent) == ["cache_check"]
    r = row(waiting)
    assert (r["status"], r["generated_content_id"], r["cache_hit"]) == ("completed", lesson, True)
    assert audit_actions(lesson) == ["content.review.flagged", "content.review.approved"]

"""The ops tasks on the real worker: `ops.bulk_upload` and `ops.regenerate_from_feedback`."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from pipeline.regeneration import next_interest
from tests.support import TEST_ENV, connect, wait_for
from tests.workers.helpers import (
    SCHOOL,
    content,
    finished,
    fresh_topic,
    history,
    job,
    queued_job,
    row,
    scalar,
    send,
    settle,
)

pytestmark = pytest.mark.usefixtures("fakes")

STUDENT = "user_demo_student_1"  # ranked interests: basketball, video games, cooking
CLASS = "class_demo_physics"


def feedback(feedback_id: str) -> dict[str, Any]:
    with connect(TEST_ENV.database) as c:
        cur = c.execute("SELECT * FROM feedback WHERE id = %s", (feedback_id,))
        cols = [d.name for d in cur.description or ()]
        return dict(zip(cols, cur.fetchone(), strict=True))


def log_lines(worker: Any, event: str, key: str) -> list[dict[str, Any]]:
    """The worker's JSON log lines for this event that mention key."""
    out = []
    for line in worker.log_text().splitlines():
        if f'"{event}"' in line and key in line:
            out.append(json.loads(line))
    return out


# -- bulk uploads ----------------------------------------------------------------------------


async def test_bulk_upload_task_imports_a_file_from_storage(worker) -> None:
    tag = uuid.uuid4().hex[:8]
    addresses = [f"pupil{i}.{tag}@school.example" for i in range(1, 5)]
    key = f"uploads/{tag}.csv"
    path = TEST_ENV.tmp / "storage" / key  # the worker's STORAGE_URL directory
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "email,first_name,last_name,grade_level,student_id,class_id\n"
        f"{addresses[0]},Ada,One,10,S-1,{CLASS}\n"
        f"{addresses[1]},Bea,Two,11,,\n"
        f"{addresses[2]},Cy,Three,eight,,\n"
        f"{addresses[3]},Di,Four,12,,class_nope\n"
    )
    job_id = queued_job(key)  # a bare key: read from the storage root

    send("ops.bulk_upload", job_id)
    await asyncio.to_thread(wait_for, lambda: finished(job_id), 30)
    # The file, with its students' names and e-mails, goes when the job ends.
    j = await asyncio.to_thread(wait_for, lambda: (j := job(job_id))["file_deleted_at"] and j, 30)
    assert not path.exists()

    assert (j["status"], j["total_rows"], j["successful_count"], j["failed_count"]) == (
        "completed",
        4,
        2,
        2,
    )
    assert j["error_log"] == [
        {"row": 3, "error": "grade_level must be a whole number from 9 to 12"},
        {"row": 4, "error": "unknown class"},
    ]
    assert (
        scalar(
            "SELECT count(*) FROM users WHERE email = ANY(%s) AND role = 'student' AND org_id = %s",
            addresses[:2],
            SCHOOL,
        )
        == 2
    )
    assert scalar("SELECT count(*) FROM users WHERE email = ANY(%s)", addresses[2:]) == 0
    assert (
        scalar(
            "SELECT count(*) FROM class_students cs JOIN users u ON u.id = cs.student_id "
            "WHERE cs.class_id = %s AND u.email = %s",
            CLASS,
            addresses[0],
        )
        == 1
    )
    assert scalar(
        "SELECT metadata FROM audit_logs WHERE resource_type = 'bulk_upload_job' "
        "AND resource_id = %s",
        job_id,
    ) == {
        "status": "completed",
        "school_id": SCHOOL,
        "total_rows": 4,
        "successful_count": 2,
        "failed_count": 2,
    }

    # A late second delivery of the finished job changes nothing.
    send("ops.bulk_upload", job_id)
    await asyncio.to_thread(wait_for, lambda: log_lines(worker, "bulk upload skipped", job_id), 30)
    assert job(job_id) == j
    # The worker's log names the job and counts, never the file's e-mails or names.
    text = worker.log_text()
    assert job_id in text and tag not in text and "Ada" not in text


async def test_bulk_upload_task_fails_a_job_whose_file_is_missing(worker) -> None:
    job_id = queued_job(f"uploads/missing-{uuid.uuid4().hex}.csv")
    send("ops.bulk_upload", job_id)
    j = await asyncio.to_thread(wait_for, lambda: finished(job_id), 30)
    assert j["status"] == "failed"
    assert j["error_log"] == [{"row": 0, "error": "the uploaded file was not found in storage"}]


# -- regeneration from feedback --------------------------------------------------------------


async def completed_lesson(api) -> dict[str, Any]:
    """A request of STUDENT on a topic nobody asked about before, run to completed."""
    _, query = fresh_topic()
    r = await settle(await api.submit_request(STUDENT, query))
    assert r["status"] == "completed", r
    return r


def new_feedback(
    content_id: str, feedback_type: str, student: str = STUDENT, rating: int | None = None
) -> str:
    feedback_id = f"feedback_{uuid.uuid4().hex[:12]}"
    with connect(TEST_ENV.database) as c:
        c.execute(
            "INSERT INTO feedback (id, student_id, content_id, feedback_type, rating) "
            "VALUES (%s, %s, %s, %s, %s)",
            (feedback_id, student, content_id, feedback_type, rating),
        )
    return feedback_id


async def regenerated(feedback_id: str) -> str:
    f = await asyncio.to_thread(
        wait_for, lambda: (r := feedback(feedback_id))["regeneration_request_id"] and r, 30
    )
    assert f["triggered_regeneration"] is True
    return f["regeneration_request_id"]


def regenerations_of(feedback_id: str) -> int:
    return scalar(
        "SELECT count(*) FROM content_requests WHERE metadata->>'regenerated_from' = %s",
        feedback_id,
    )


async def test_make_simpler_regenerates_in_the_simpler_style_once(api, worker) -> None:
    source = await completed_lesson(api)
    feedback_id = new_feedback(source["generated_content_id"], "make_simpler")

    send("ops.regenerate_from_feedback", feedback_id)
    send("ops.regenerate_from_feedback", feedback_id)  # a duplicate delivery
    new_id = await regenerated(feedback_id)
    r = await settle(new_id, {"completed", "failed"})

    assert r["status"] == "completed"
    assert r["style"] == "simpler" and source["style"] == "conversational"
    assert (r["topic_id"], r["interest_id"]) == (source["topic_id"], source["interest_id"])
    assert r["student_id"] == STUDENT and r["original_query"] == source["original_query"]
    assert history(r)[0] == "cache_check"  # NLU skipped: the topic was known
    assert r["metadata"]["regenerated_from"] == feedback_id
    assert r["metadata"]["source_request_id"] == source["id"]
    assert r["generated_content_id"] != source["generated_content_id"]

    # Both deliveries ran; the second found the first's request and made none.
    lines = await asyncio.to_thread(
        wait_for,
        lambda: (
            len(log_lines(worker, "regeneration requested", feedback_id)) >= 2
            and log_lines(worker, "regeneration requested", feedback_id)
        ),
        30,
    )
    assert sorted(line["outcome"] for line in lines) == ["duplicate", "ok"]
    assert {line["request_id"] for line in lines} == {new_id}
    assert regenerations_of(feedback_id) == 1

    # Simpler than simpler is not on offer: feedback on the new content makes nothing.
    again = new_feedback(r["generated_content_id"], "make_simpler")
    send("ops.regenerate_from_feedback", again)
    await asyncio.to_thread(wait_for, lambda: log_lines(worker, "regeneration skipped", again), 30)
    assert feedback(again)["triggered_regeneration"] is False
    assert regenerations_of(again) == 0


async def test_try_different_interest_uses_the_next_ranked_interest(api, worker) -> None:
    source = await completed_lesson(api)
    assert source["interest_id"] == "int_basketball"  # the student's rank 1
    feedback_id = new_feedback(source["generated_content_id"], "try_different_interest")

    send("ops.regenerate_from_feedback", feedback_id)
    send("ops.regenerate_from_feedback", feedback_id)
    new_id = await regenerated(feedback_id)
    r = await settle(new_id, {"completed", "failed"})

    assert r["status"] == "completed"
    assert r["interest_id"] == "int_video_games"  # rank 2
    assert (r["topic_id"], r["style"]) == (source["topic_id"], source["style"])
    assert history(r)[0] == "cache_check"
    await asyncio.to_thread(
        wait_for, lambda: len(log_lines(worker, "regeneration requested", feedback_id)) >= 2, 30
    )
    assert regenerations_of(feedback_id) == 1
    assert row(new_id)["id"] == feedback(feedback_id)["regeneration_request_id"]


async def test_other_feedback_types_regenerate_nothing(api, worker) -> None:
    source = await completed_lesson(api)
    feedback_id = new_feedback(source["generated_content_id"], "rating_only")
    send("ops.regenerate_from_feedback", feedback_id)
    await asyncio.to_thread(
        wait_for, lambda: log_lines(worker, "regeneration skipped", feedback_id), 30
    )
    f = feedback(feedback_id)
    assert (f["triggered_regeneration"], f["regeneration_request_id"]) == (False, None)


@pytest.mark.parametrize(
    ("current", "ranked", "expected"),
    [
        ("b", ["a", "b", "c"], "c"),  # the next one down
        ("c", ["a", "b", "c"], "a"),  # wrapping around
        ("z", ["a", "b"], "a"),  # the content's interest is not ranked: the top one
        ("a", ["a"], "x"),  # only one interest: the first other active one
        ("a", [], "x"),
        ("x", ["x"], "a"),
    ],
)
def test_next_interest(current: str, ranked: list[str], expected: str) -> None:
    assert next_interest(current, ranked, ["x", "a", "b"]) == expected


def test_next_interest_with_nothing_else_is_none() -> None:
    assert next_interest("a", ["a"], ["a"]) is None


# -- the content review gate ---------------------------------------------------------------


async def test_a_report_flags_the_lesson_and_staff_approve_it(api, worker) -> None:
    import subprocess
    import sys

    source = await completed_lesson(api)
    lesson = source["generated_content_id"]
    report = new_feedback(lesson, "report_issue")
    send("ops.regenerate_from_feedback", report)
    send("ops.regenerate_from_feedback", report)  # a duplicate delivery
    await asyncio.to_thread(
        wait_for, lambda: content(lesson)["manual_review_status"] == "flagged", 30
    )
    view = await api.get_request(source["id"])
    assert view["content_review"] == "flagged" and "reported" in view["notice"]
    actions = "SELECT action FROM audit_logs WHERE resource_id = %s ORDER BY created_at"

    def audit() -> list[str]:
        with connect(TEST_ENV.database) as c:
            return [r[0] for r in c.execute(actions, (lesson,)).fetchall()]

    await asyncio.to_thread(wait_for, lambda: len(audit()) == 1, 10)
    assert audit() == ["content.review.flagged"]
    assert regenerations_of(report) == 0  # a report makes no new request by itself
    # Ratings score the lesson: quality_score is the mean rating over 5.
    for stars in (4, 5):
        send("ops.regenerate_from_feedback", new_feedback(lesson, "rating_only", rating=stars))
    await asyncio.to_thread(wait_for, lambda: str(content(lesson)["quality_score"]) == "0.90", 30)

    def vividly(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "workers.cli", "review", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    listed = vividly("list")
    assert listed.returncode == 0 and lesson in listed.stdout, listed.stderr
    approved = vividly("approve", lesson, "--by", "user_demo_teacher")
    assert approved.returncode == 0, approved.stderr
    assert content(lesson)["manual_review_status"] == "approved"
    assert audit() == ["content.review.flagged", "content.review.approved"]
    assert lesson not in vividly("list").stdout
    unknown = vividly("flag", "content_nope")
    assert unknown.returncode != 0 and "No lesson 'content_nope'" in unknown.stderr

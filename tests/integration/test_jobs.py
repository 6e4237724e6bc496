"""Scheduled jobs on the real database: rows seeded around each boundary, exactly what
changed asserted, and a second run that changes nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from pipeline.jobs import run_job
from tests.support import TEST_ENV, connect, libpq_url

STUDENT = "user_demo_student_1"


def sql(query: str, *params: object, backdate: bool = False) -> list[tuple]:
    """Run SQL on the test database; backdate=True bypasses the updated_at trigger."""
    with connect(TEST_ENV.database) as c:
        if backdate:
            c.execute("SET session_replication_role = replica")
        cur = c.execute(query, params)
        return cur.fetchall() if cur.description else []


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def add_request(status: str, age: str, **extra: object) -> str:
    rid = uid("req")
    cols = {"id": rid, "student_id": STUDENT, "original_query": "q", "status": status, **extra}
    names = ", ".join(cols)
    marks = ", ".join(["%s"] * len(cols))
    sql(
        f"INSERT INTO content_requests ({names}, created_at, updated_at) "
        f"VALUES ({marks}, now() - interval '{age}', now() - interval '{age}')",
        *[json.dumps(v) if isinstance(v, dict) else v for v in cols.values()],
    )
    return rid


def status_of(rid: str) -> tuple:
    return sql(
        "SELECT status::text, deleted_at IS NOT NULL, error_message FROM content_requests "
        "WHERE id = %s",
        rid,
    )[0]


async def test_content_request_retention_archives_then_soft_deletes(ctx) -> None:
    old_done = add_request("completed", "91 days")
    old_failed = add_request("failed", "91 days")
    young = add_request("completed", "89 days")
    old_working = add_request("generating_video", "91 days")
    already = add_request("completed", "120 days")
    sql("UPDATE content_requests SET deleted_at = now() WHERE id = %s", already)

    first = await run_job(ctx, "content_request_retention")
    assert first.changed == 2
    assert status_of(old_done)[1] and status_of(old_failed)[1]
    assert not status_of(young)[1] and not status_of(old_working)[1]
    (archive,) = first.details["archives"]
    assert "/archive/content_requests/" in archive
    lines = [json.loads(x) for x in Path(urlparse(archive).path).read_text().splitlines()]
    assert sorted(x["id"] for x in lines) == sorted([old_done, old_failed])
    audit = sql(
        "SELECT metadata FROM audit_logs WHERE action = 'retention.archive_and_soft_delete' "
        "AND metadata->>'archive' = %s",
        archive,
    )
    assert audit and audit[0][0]["count"] == 2

    second = await run_job(ctx, "content_request_retention")
    assert second.changed == 0 and "archives" not in second.details


async def test_reset_tokens_clears_only_expired(ctx) -> None:
    expired, live = "user_demo_student_2", "user_demo_student_3"
    sql(
        "UPDATE users SET reset_token = 'tok', "
        "reset_token_expires_at = now() - interval '1 minute' WHERE id = %s",
        expired,
    )
    sql(
        "UPDATE users SET reset_token = 'tok', reset_token_expires_at = now() + interval '1 hour' "
        "WHERE id = %s",
        live,
    )
    assert (await run_job(ctx, "reset_tokens")).changed == 1
    rows = dict(sql("SELECT id, reset_token FROM users WHERE id IN (%s, %s)", expired, live))
    assert rows == {expired: None, live: "tok"}
    assert (await run_job(ctx, "reset_tokens")).changed == 0


async def test_feedback_and_audit_retention(ctx) -> None:
    content = sql("SELECT id FROM generated_content LIMIT 1") or [(None,)]
    if content[0][0] is None:
        sql(
            "INSERT INTO generated_content (id, topic_id, interest_id, cache_key, content_type) "
            "VALUES ('content_jobs', 'topic_phys_newton_3', 'int_soccer', 'jobs-key', 'vivid_now')"
        )
        content = [("content_jobs",)]
    cid = content[0][0]
    old_fb, young_fb = uid("feedback"), uid("feedback")
    for fid, age in ((old_fb, "731 days"), (young_fb, "729 days")):
        sql(
            "INSERT INTO feedback (id, student_id, content_id, feedback_type, rating, created_at) "
            f"VALUES (%s, %s, %s, 'rating_only', 4, now() - interval '{age}')",
            fid,
            STUDENT,
            cid,
        )
    old_audit = sql(
        "INSERT INTO audit_logs (action, created_at) "
        "VALUES ('test.old', now() - interval '7 years 3 days') RETURNING id"
    )[0][0]
    young_audit = sql(
        "INSERT INTO audit_logs (action, created_at) "
        "VALUES ('test.young', now() - interval '7 years' + interval '3 days') RETURNING id"
    )[0][0]

    first = await run_job(ctx, "feedback_audit_retention")
    assert first.changed == 2
    assert [
        r[0] for r in sql("SELECT id FROM feedback WHERE id IN (%s, %s)", old_fb, young_fb)
    ] == [young_fb]
    ids = [
        r[0] for r in sql("SELECT id FROM audit_logs WHERE id IN (%s, %s)", old_audit, young_audit)
    ]
    assert ids == [young_audit]
    archived = {
        urlparse(a).path.split("/archive/")[1].split("/")[0] for a in first.details["archives"]
    }
    assert archived == {"feedback", "audit_logs"}
    assert (await run_job(ctx, "feedback_audit_retention")).changed == 0


def add_school(contract_end_days_ago: int) -> tuple[str, str, list[str]]:
    """A district + school whose contract ended N days ago, a teacher with a class, and
    two students with interests, a request and progress."""
    district, school = uid("org"), uid("school")
    end = f"(now() - interval '{contract_end_days_ago} days')::date"
    sql(
        "INSERT INTO organizations (id, name, org_type, metadata) VALUES "
        f"(%s, 'D', 'district', jsonb_build_object('contract_end_date', {end}))",
        district,
    )
    sql(
        "INSERT INTO organizations (id, name, org_type, parent_id) VALUES (%s, 'S', 'school', %s)",
        school,
        district,
    )
    teacher = uid("user")
    students = [uid("user"), uid("user")]
    sql(
        "INSERT INTO users (id, email, password_hash, first_name, last_name, role, org_id) "
        "VALUES (%s, %s, '!', 'T', 'T', 'teacher', %s)",
        teacher,
        f"{teacher}@x.invalid",
        school,
    )
    klass = uid("class")
    sql(
        "INSERT INTO classes (id, name, teacher_id, school_id) VALUES (%s, 'C', %s, %s)",
        klass,
        teacher,
        school,
    )
    for s in students:
        sql(
            "INSERT INTO users (id, email, password_hash, first_name, last_name, role, org_id, "
            "grade_level) VALUES (%s, %s, '!', 'S', 'S', 'student', %s, 10)",
            s,
            f"{s}@x.invalid",
            school,
        )
        sql("INSERT INTO class_students (class_id, student_id) VALUES (%s, %s)", klass, s)
        sql(
            "INSERT INTO student_interests (student_id, interest_id, rank) "
            "VALUES (%s, 'int_soccer', 1)",
            s,
        )
        sql(
            "INSERT INTO content_requests (id, student_id, original_query) VALUES (%s, %s, 'q')",
            uid("req"),
            s,
        )
    return school, klass, [teacher, *students]


async def test_user_retention_deletes_after_the_grace_period(ctx) -> None:
    _, ended_class, ended_users = add_school(31)
    _, live_class, live_users = add_school(29)

    first = await run_job(ctx, "user_retention")
    assert first.changed == 3 and first.details["classes_deleted"] == 1
    left = {r[0] for r in sql("SELECT id FROM users WHERE id = ANY(%s)", ended_users + live_users)}
    assert left == set(live_users)
    for table in ("content_requests", "student_interests", "class_students"):
        col = "student_id"
        assert sql(f"SELECT count(*) FROM {table} WHERE {col} = ANY(%s)", ended_users)[0][0] == 0
    assert sql("SELECT count(*) FROM classes WHERE id = %s", ended_class)[0][0] == 0
    assert sql("SELECT count(*) FROM classes WHERE id = %s", live_class)[0][0] == 1
    audited = {
        r[0]
        for r in sql(
            "SELECT resource_id FROM audit_logs WHERE action = 'retention.delete_user' "
            "AND resource_id = ANY(%s)",
            ended_users,
        )
    }
    assert audited == set(ended_users)
    assert (await run_job(ctx, "user_retention")).changed == 0


async def test_content_stats(ctx) -> None:
    cid, key = uid("content"), uid("key")
    sql(
        "INSERT INTO generated_content (id, topic_id, interest_id, cache_key, content_type) "
        "VALUES (%s, 'topic_phys_newton_3', 'int_dance', %s, 'vivid_now')",
        cid,
        key,
    )
    for rating in (4, 5, None):
        sql(
            "INSERT INTO feedback (id, student_id, content_id, feedback_type, rating) "
            "VALUES (%s, %s, %s, 'rating_only', %s)",
            uid("feedback"),
            STUDENT,
            cid,
            rating,
        )
    for student, status, topic in (
        ("user_demo_student_1", "completed", "topic_chem_atoms"),
        ("user_demo_student_2", "completed", "topic_chem_atoms"),
        ("user_demo_student_3", "in_progress", "topic_chem_atoms"),
    ):
        sql(
            "INSERT INTO student_progress (student_id, topic_id, status, content_id) "
            "VALUES (%s, %s, %s, %s)",
            student,
            topic,
            status,
            cid,
        )
    first = await run_job(ctx, "content_stats")
    assert first.changed >= 1
    rating, completions = sql(
        "SELECT average_rating, completion_count FROM generated_content WHERE id = %s", cid
    )[0]
    assert (str(rating), completions) == ("4.50", 2)
    assert (await run_job(ctx, "content_stats")).changed == 0


async def test_clarification_expiry(ctx) -> None:
    stale = add_request("needs_clarification", "25 hours")
    fresh = add_request("needs_clarification", "23 hours")
    assert (await run_job(ctx, "clarification_expiry")).changed == 1
    assert status_of(stale) == ("failed", False, "clarification expired")
    assert status_of(fresh)[0] == "needs_clarification"
    assert (await run_job(ctx, "clarification_expiry")).changed == 0


def add_execution(rid: str, stage: str, **cols: str) -> None:
    """An execution row; values are SQL expressions (e.g. "now() - interval '1 s'")."""
    names = ", ".join(["request_id", "stage", *cols])
    values = ", ".join(["%s", "%s", *cols.values()])
    sql(f"INSERT INTO request_execution ({names}) VALUES ({values})", rid, stage)


class QueueStandIn:
    """The broker's answer about queues, fixed by the test: stage -> oldest sent_at."""

    def __init__(self, oldest: dict[str, float | None]) -> None:
        self.oldest = oldest

    def oldest_sent_at(self, stage: object) -> float | None:
        return self.oldest.get(str(stage))


async def test_watchdog_dispatches_the_lost_and_leaves_the_waiting(ctx) -> None:
    import dataclasses
    import time

    lost = add_request("generating_script", "200 seconds", metadata={"cache_key": "k"})
    young = add_request("generating_script", "100 seconds", metadata={"cache_key": "k"})
    dead = add_request("generating_audio", "10 seconds", metadata={"cache_key": "k"})
    add_execution(
        dead,
        "audio",
        lease_task_id="'t1'",
        lease_try="0",
        lease_expires_at="now() - interval '1 second'",
        claimed_at="now() - interval '21 seconds'",
        dispatched_at="now() - interval '22 seconds'",
    )
    live = add_request("generating_video", "1 hour", metadata={"role": "leader"})
    add_execution(
        live,
        "video",
        lease_task_id="'t2'",
        lease_try="0",
        lease_expires_at="now() + interval '20 seconds'",
        claimed_at="now() - interval '50 minutes'",
        dispatched_at="now() - interval '1 hour'",
    )
    follower = add_request(
        "cache_check", "1 hour", metadata={"role": "follower", "leader_id": live}
    )
    tired = add_request("generating_audio", "1 hour", metadata={"cache_key": "k"})
    add_execution(
        tired, "audio", attempts="99", crashes="2", dispatched_at="now() - interval '1 hour'"
    )
    behind = add_request("nlu_processing", "10 minutes")
    # The nlu queue still holds a message sent before `behind` was dispatched.
    probe = QueueStandIn({"nlu": time.time() - 3600})
    settings = ctx.settings.model_copy(update={"watchdog_lost_after_seconds": 120.0})
    wctx = dataclasses.replace(ctx, queues=probe, settings=settings)

    first = await run_job(wctx, "watchdog")
    sent = {d.request_id: str(d.stage) for d in first.dispatches}
    assert sent.get(lost) == "script"
    assert sent.get(dead) == "audio"  # at once: its lease died, whatever the age
    assert sent.get(tired) == "audio"
    assert not {young, live, follower, behind} & set(sent)
    assert first.details["waiting"] >= 1
    # The watchdog never fails or degrades: a re-dispatch is not an attempt.
    assert status_of(tired)[0] == "generating_audio"
    assert sql("SELECT attempts, crashes FROM request_execution WHERE request_id = %s", tired) == [
        (99, 2)
    ]
    # The dead lease is kept for the next claim to count it as a crash.
    assert sql("SELECT lease_task_id FROM request_execution WHERE request_id = %s", dead) == [
        ("t1",)
    ]

    second = await run_job(wctx, "watchdog")
    again = {d.request_id for d in second.dispatches}
    assert not {lost, dead, tired} & again  # the clock restarted at the re-dispatch

    probe.oldest["nlu"] = None  # the queue drained without `behind`: its message is lost
    third = await run_job(wctx, "watchdog")
    assert behind in {d.request_id for d in third.dispatches}


async def test_watchdog_resends_lost_bulk_upload_jobs(ctx) -> None:
    lost, fresh, running, dead = (uid("upload_job") for _ in range(4))
    for job, status, age in (
        (lost, "queued", "20 minutes"),
        (fresh, "queued", "1 minute"),
        (running, "processing", "20 minutes"),
        (dead, "processing", "45 minutes"),
    ):
        sql(
            "INSERT INTO bulk_upload_jobs (id, uploaded_by, school_id, file_path, status, "
            f"started_at, updated_at) VALUES (%s, 'user_demo_teacher', 'school_demo_hs', "
            f"'uploads/x.csv', %s, now() - interval '{age}' + interval '15 minutes', "
            f"now() - interval '{age}')",
            job,
            status,
        )
    first = await run_job(ctx, "watchdog")
    sent = {job for task, job in first.tasks if task == "ops.bulk_upload"}
    # started_at is 15 minutes after the row's age: the dead run started 30 minutes ago.
    assert sent & {lost, fresh, running, dead} == {lost, dead}
    second = await run_job(ctx, "watchdog")
    assert lost not in {job for _, job in second.tasks}  # its clock restarted


async def test_a_second_concurrent_run_is_a_no_op(ctx) -> None:
    sql(
        "UPDATE users SET reset_token = 'tok', reset_token_expires_at = now() - interval '1 day' "
        "WHERE id = 'user_demo_student_2'"
    )
    with psycopg.connect(libpq_url(TEST_ENV.database)) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended('vividly-job:reset_tokens', 0))")
        held = await run_job(ctx, "reset_tokens")
        assert held.locked and held.changed == 0
        # Let go explicitly: a closed connection's backend may hold the lock a moment
        # longer while it exits.
        other.execute("SELECT pg_advisory_unlock(hashtextextended('vividly-job:reset_tokens', 0))")
    assert (await run_job(ctx, "reset_tokens")).changed == 1


def test_a_second_fire_of_the_same_slot_is_a_no_op(pipeline_db: str) -> None:
    from workers.jobs import claim_slot

    now = datetime.now(UTC).timestamp()
    name = f"test-{uuid.uuid4().hex[:6]}"
    assert claim_slot(name, 60, now - now % 60) is True
    slot_start = now - now % 60
    assert claim_slot(name, 60, slot_start + 30) is False  # same slot, later in it
    assert claim_slot(name, 60, now - now % 60 + 60) is True  # the next slot


# -- retention that deletes ------------------------------------------------------------------


def test_archives_hold_no_student_text_and_live_apart_from_content() -> None:
    """Run by the content-request retention test above; checked here on its files."""
    archive_root = TEST_ENV.tmp / "archive"
    for path in archive_root.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            assert "original_query" not in row
            assert "answer" not in ((row.get("metadata") or {}).get("clarification") or {})
    assert not (TEST_ENV.tmp / "storage" / "archive").exists()


async def test_soft_deleted_requests_lose_the_students_words_after_the_grace_period(ctx) -> None:
    clarified = {"clarification": {"question": "Which?", "answer": "the one with my dog Rex"}}
    old = add_request("completed", "200 days", metadata=clarified)
    recent = add_request("completed", "200 days", metadata=clarified)
    sql("UPDATE content_requests SET deleted_at = now() - interval '31 days' WHERE id = %s", old)
    sql("UPDATE content_requests SET deleted_at = now() - interval '29 days' WHERE id = %s", recent)

    first = await run_job(ctx, "request_scrub")
    assert first.changed >= 1
    query, meta = sql("SELECT original_query, metadata FROM content_requests WHERE id = %s", old)[0]
    assert query == "" and "answer" not in meta["clarification"] and meta["scrubbed_at"]
    assert meta["clarification"]["question"] == "Which?"  # the pipeline's own words stay
    assert sql("SELECT original_query FROM content_requests WHERE id = %s", recent)[0][0] == "q"
    audit = sql(
        "SELECT metadata FROM audit_logs WHERE action = 'retention.scrub_student_text' "
        "AND metadata->'ids' ? %s",
        old,
    )
    assert len(audit) == 1
    assert (await run_job(ctx, "request_scrub")).changed == 0


def add_upload(status: str, ended_ago: str | None, uploader: str = "user_demo_teacher") -> tuple:
    job_id = uid("upload_job")
    path = TEST_ENV.tmp / "storage" / "uploads" / f"{job_id}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("email,first_name,last_name,grade_level\nkim@x.invalid,Kim,Lee,10\n")
    completed = f"now() - interval '{ended_ago}'" if ended_ago else "NULL"
    sql(
        "INSERT INTO bulk_upload_jobs (id, uploaded_by, school_id, file_path, status, "
        f"completed_at) VALUES (%s, %s, 'school_demo_hs', %s, %s, {completed})",
        job_id,
        uploader,
        f"uploads/{job_id}.csv",
        status,
    )
    return job_id, path


async def test_uploaded_files_are_deleted_once_their_job_has_ended(ctx) -> None:
    done, done_file = add_upload("completed", "1 hour")
    failed, failed_file = add_upload("failed", "1 minute")
    queued, queued_file = add_upload("queued", None)

    first = await run_job(ctx, "upload_file_retention")
    assert first.changed >= 2
    assert not done_file.exists() and not failed_file.exists() and queued_file.exists()
    marked = dict(sql(
        "SELECT id, file_deleted_at IS NOT NULL FROM bulk_upload_jobs WHERE id = ANY(%s)",
        [done, failed, queued],
    ))  # fmt: skip
    assert marked == {done: True, failed: True, queued: False}
    assert (await run_job(ctx, "upload_file_retention")).changed == 0


async def test_user_retention_deletes_the_uploaders_files_first(ctx) -> None:
    _, _, ended_users = add_school(31)
    teacher = ended_users[0]
    job_id, path = add_upload("completed", "10 days", uploader=teacher)
    sql("UPDATE bulk_upload_jobs SET file_deleted_at = NULL WHERE id = %s", job_id)
    await run_job(ctx, "user_retention")
    assert not path.exists()
    assert sql("SELECT count(*) FROM bulk_upload_jobs WHERE id = %s", job_id)[0][0] == 0


async def test_a_malformed_contract_date_is_reported_and_skipped_not_fatal(ctx) -> None:
    bad = uid("org")
    sql(
        "INSERT INTO organizations (id, name, org_type, metadata) VALUES "
        "(%s, 'Typo district', 'district', '{\"contract_end_date\": \"31/12/2025\"}')",
        bad,
    )
    _, _, ended_users = add_school(31)
    try:
        result = await run_job(ctx, "user_retention")
        assert bad in result.details["unreadable_contract_end_date"]
        assert sql("SELECT count(*) FROM users WHERE id = ANY(%s)", ended_users)[0][0] == 0
    finally:
        sql("DELETE FROM organizations WHERE id = %s", bad)


async def test_next_years_audit_partition_is_made_ahead(ctx) -> None:
    year = datetime.now(UTC).year
    await run_job(ctx, "audit_log_partitions")
    names = {r[0] for r in sql("SELECT relname FROM pg_class WHERE relname LIKE 'audit_logs_y%%'")}
    assert {f"audit_logs_y{year}", f"audit_logs_y{year + 1}"} <= names
    assert (await run_job(ctx, "audit_log_partitions")).changed == 0


async def test_a_year_of_audit_logs_goes_as_one_partition_after_seven_years(ctx) -> None:
    from db.logs import LogTables
    from db.session import unit_of_work

    year = 2009  # no test writes audit rows this old, so its range is free
    async with unit_of_work(ctx.engine) as s:
        await LogTables(s).add_audit_year(year)
    ids = [
        sql(
            "INSERT INTO audit_logs (action, created_at) "
            f"VALUES ('test.ancient', '{year}-0{m}-15 12:00+00') RETURNING id"
        )[0][0]
        for m in (1, 6, 9)
    ]
    assert sql(f"SELECT count(*) FROM audit_logs_y{year}")[0][0] == 3

    result = await run_job(ctx, "feedback_audit_retention")
    assert year in result.details["audit_years_dropped"]
    assert sql("SELECT to_regclass(%s)", f"audit_logs_y{year}")[0][0] is None  # dropped whole
    assert sql("SELECT count(*) FROM audit_logs WHERE id = ANY(%s)", ids)[0][0] == 0
    archived = [
        json.loads(line)["id"]
        for a in result.details["archives"]
        if "/audit_logs/" in a
        for line in Path(urlparse(a).path).read_text().splitlines()
    ]
    assert set(ids) <= set(archived)
    (meta,) = sql(
        "SELECT metadata FROM audit_logs WHERE action = 'retention.archive_and_drop_partition' "
        "AND resource_id = %s",
        f"audit_logs_y{year}",
    )[0]
    assert meta["count"] == 3 and meta["year"] == year


# -- BigQuery ----------------------------------------------------------------------------


def with_bigquery(ctx, standin):
    import dataclasses

    from pipeline.providers.warehouse_bigquery import open_bigquery

    loader = open_bigquery("vividly-test", "vividly_archive", standin.url)
    return dataclasses.replace(ctx, providers=dataclasses.replace(ctx.providers, warehouse=loader))


async def test_archived_requests_and_feedback_are_loaded_into_bigquery(ctx, bigquery) -> None:
    old = [add_request("completed", "95 days"), add_request("failed", "95 days")]
    result = await run_job(with_bigquery(ctx, bigquery), "content_request_retention")
    assert result.changed >= 2
    loaded = bigquery.loaded("vividly_archive.content_requests")
    assert set(old) <= {r["id"] for r in loaded}
    assert all("original_query" not in r for r in loaded)
    assert all(status_of(rid)[1] for rid in old)  # soft-deleted after the load
    # Multipart uploads of NEWLINE_DELIMITED_JSON, one job per archive object.
    assert all("uploadType=multipart" in r for r in bigquery.requests if r.startswith("POST"))


async def test_a_reloaded_archive_is_not_loaded_twice(bigquery) -> None:
    from pipeline.providers.warehouse_bigquery import open_bigquery

    loader = open_bigquery("vividly-test", "vividly_archive", bigquery.url)
    data = b'{"id": "fb_1", "rating": 5}\n{"id": "fb_2", "rating": 3}\n'
    first = await loader.load("feedback", "feedback/2026/12/01/abc.jsonl", data)
    again = await loader.load("feedback", "feedback/2026/12/01/abc.jsonl", data)  # 409: loaded
    assert first == again
    assert [r["id"] for r in bigquery.loaded("vividly_archive.feedback")] == ["fb_1", "fb_2"]


async def test_a_refused_load_keeps_the_rows_for_the_next_run(ctx, bigquery) -> None:
    from pipeline.errors import PermanentStageError

    rid = add_request("completed", "95 days")
    bigquery.fail_next(1, 400)
    with pytest.raises(PermanentStageError, match="BigQuery refused the load"):
        await run_job(with_bigquery(ctx, bigquery), "content_request_retention")
    assert not status_of(rid)[1]  # the batch rolled back: still there, still live
    await run_job(with_bigquery(ctx, bigquery), "content_request_retention")
    assert status_of(rid)[1]
    assert rid in {r["id"] for r in bigquery.loaded("vividly_archive.content_requests")}

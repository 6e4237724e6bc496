"""Bulk CSV uploads: pipeline.uploads.importer.process_upload against the migrated, seeded test
database, with files in a local storage directory."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from db.uploads import BULK_JOB_KEY
from pipeline.errors import TransientStageError
from pipeline.providers.storage import LocalStorage
from pipeline.uploads.importer import PASSWORD_MARKER, STALE_CLAIM, fail_upload, process_upload
from tests.support import TEST_ENV, connect

HEADER = "email,first_name,last_name,grade_level,student_id,class_id"
DISTRICT = "org_demo_district"
REGISTERED = "demo_student_1@demo.vividly.invalid"  # a seeded user


@dataclass(frozen=True)
class Schools:
    school: str  # the uploads' school
    other_school: str
    uploader: str
    class_id: str  # an active class of `school`
    inactive_class_id: str
    other_class_id: str  # a class of `other_school`


def sql(query: str, *params: object) -> list[tuple[Any, ...]]:
    with connect(TEST_ENV.database) as c:
        cur = c.execute(query, params)
        return cur.fetchall() if cur.description else []


def one(query: str, *params: object) -> Any:
    return sql(query, *params)[0][0]


@pytest.fixture(scope="module")
def schools(pipeline_db: str) -> Iterator[Schools]:
    tag = uuid.uuid4().hex[:8]
    s = Schools(
        school=f"school_bulk_{tag}",
        other_school=f"school_other_{tag}",
        uploader=f"user_bulk_admin_{tag}",
        class_id=f"class_bulk_{tag}",
        inactive_class_id=f"class_old_{tag}",
        other_class_id=f"class_other_{tag}",
    )
    other_teacher = f"user_other_teacher_{tag}"
    for school in (s.school, s.other_school):
        sql(
            "INSERT INTO organizations (id, name, org_type, parent_id) "
            "VALUES (%s, %s, 'school', %s)",
            school,
            f"Bulk test {school}",
            DISTRICT,
        )
    for uid, role, org in (
        (s.uploader, "school_admin", s.school),
        (other_teacher, "teacher", s.other_school),
    ):
        sql(
            "INSERT INTO users (id, email, password_hash, first_name, last_name, role, org_id) "
            "VALUES (%s, %s, '!disabled', 'Test', 'Staff', %s, %s)",
            uid,
            f"{uid}@staff.example",
            role,
            org,
        )
    for cid, teacher, school, active in (
        (s.class_id, s.uploader, s.school, True),
        (s.inactive_class_id, s.uploader, s.school, False),
        (s.other_class_id, other_teacher, s.other_school, True),
    ):
        sql(
            "INSERT INTO classes (id, name, teacher_id, school_id, is_active) "
            "VALUES (%s, 'Physics', %s, %s, %s)",
            cid,
            teacher,
            school,
            active,
        )
    yield s


@pytest.fixture
async def engine(pipeline_db: str) -> AsyncIterator[Any]:
    from db.session import create_engine
    from pipeline.settings import get_settings

    engine = create_engine(get_settings().database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


def emails(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"student{i}.{tag}@school.example" for i in range(1, n + 1)]


async def new_job(
    storage: LocalStorage, schools: Schools, content: bytes | str, file_path: str | None = None
) -> str:
    """A queued job for a file with this content (stored under uploads/)."""
    data = content.encode() if isinstance(content, str) else content
    key = f"uploads/{uuid.uuid4().hex}.csv"
    location = await storage.put_bytes(key, data, "text/csv")
    job_id = f"upload_job_{uuid.uuid4().hex[:12]}"
    sql(
        "INSERT INTO bulk_upload_jobs (id, uploaded_by, school_id, file_path) "
        "VALUES (%s, %s, %s, %s)",
        job_id,
        schools.uploader,
        schools.school,
        file_path or location,
    )
    return job_id


def job(job_id: str) -> dict[str, Any]:
    with connect(TEST_ENV.database) as c:
        cur = c.execute("SELECT * FROM bulk_upload_jobs WHERE id = %s", (job_id,))
        cols = [d.name for d in cur.description or ()]
        return dict(zip(cols, cur.fetchone(), strict=True))


def job_users(job_id: str) -> list[dict[str, Any]]:
    with connect(TEST_ENV.database) as c:
        cur = c.execute(
            f"SELECT * FROM users WHERE metadata->>'{BULK_JOB_KEY}' = %s ORDER BY email",
            (job_id,),
        )
        cols = [d.name for d in cur.description or ()]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def enrolled(class_id: str) -> set[str]:
    return {
        r[0]
        for r in sql(
            "SELECT u.email FROM class_students cs JOIN users u ON u.id = cs.student_id "
            "WHERE cs.class_id = %s",
            class_id,
        )
    }


def audits(job_id: str) -> list[dict[str, Any]]:
    rows = sql(
        "SELECT user_id, user_role, action, resource_type, metadata FROM audit_logs "
        "WHERE resource_id = %s",
        job_id,
    )
    return [
        {"user_id": u, "user_role": r, "action": a, "resource_type": t, "metadata": m}
        for u, r, a, t, m in rows
    ]


def csv_text(*lines: str, header: str = HEADER) -> str:
    return "\n".join((header, *lines)) + "\n"


# -- whole jobs ------------------------------------------------------------------------------


async def test_all_good_rows_create_students_and_enrolments(engine, storage, schools) -> None:
    a, b, c = emails(3)
    users_before = one("SELECT count(*) FROM users")
    # A BOM, the header in another order and case, CRLF line ends, quoting, spaces.
    content = "\ufeff" + (
        "Grade_Level,EMAIL,first_name,last_name,class_id,student_id\r\n"
        f"10,{a.upper()},Ada,Lovelace,{schools.class_id},S-1\r\n"
        f'11, {b} ,"Smith, Jr.",O\'Neil,,\r\n'
        f'12,{c},"Zoë ""Z""",Ng,{schools.class_id},\r\n'
    )
    job_id = await new_job(storage, schools, content.encode("utf-8"))
    with capture_logs() as logs:
        result = await process_upload(engine, storage, job_id)

    assert (result.status, result.total_rows, result.successful_count, result.failed_count) == (
        "completed",
        3,
        3,
        0,
    )
    j = job(job_id)
    assert j["status"] == "completed"
    assert (j["total_rows"], j["successful_count"], j["failed_count"]) == (3, 3, 0)
    assert j["error_log"] == []
    assert j["started_at"] is not None and j["completed_at"] >= j["started_at"]

    assert one("SELECT count(*) FROM users") == users_before + 3
    users = {u["email"]: u for u in job_users(job_id)}
    assert set(users) == {a, b, c}  # e-mails are stored lower-cased and trimmed
    ada = users[a]
    assert (ada["first_name"], ada["last_name"], ada["grade_level"], ada["student_id"]) == (
        "Ada",
        "Lovelace",
        10,
        "S-1",
    )
    assert (users[b]["first_name"], users[b]["last_name"]) == ("Smith, Jr.", "O'Neil")
    assert users[c]["first_name"] == 'Zoë "Z"' and users[c]["student_id"] is None
    for u in users.values():
        assert u["id"].startswith("user_")
        assert u["role"] == "student" and u["org_id"] == schools.school
        assert u["password_hash"] == PASSWORD_MARKER and u["email_verified"] is False
        assert u["is_active"] is True
    assert enrolled(schools.class_id) >= {a, c} and b not in enrolled(schools.class_id)

    assert audits(job_id) == [
        {
            "user_id": schools.uploader,
            "user_role": "school_admin",
            "action": "bulk_upload",
            "resource_type": "bulk_upload_job",
            "metadata": {
                "status": "completed",
                "school_id": schools.school,
                "total_rows": 3,
                "successful_count": 3,
                "failed_count": 0,
            },
        }
    ]
    # Logs carry ids and counts, never the file's e-mails or names.
    assert logs and all(e.get("job_id") == job_id for e in logs)
    text = json.dumps(logs, default=str)
    assert "@" not in text and "Lovelace" not in text


async def test_duplicate_emails_in_file_and_already_registered(engine, storage, schools) -> None:
    a, b = emails(2)
    content = csv_text(
        f"{a},Ada,One,10,,",
        f"{a.upper()},Ada,Two,10,,",  # the same address again (case does not matter)
        f"{REGISTERED},Ava,Again,10,,",
        f"{REGISTERED.upper()},Ava,Again,10,,",
        f"{b},Bob,Three,11,,",
    )
    job_id = await new_job(storage, schools, content)
    users_before = one("SELECT count(*) FROM users")
    await process_upload(engine, storage, job_id)

    j = job(job_id)
    assert (j["status"], j["total_rows"], j["successful_count"], j["failed_count"]) == (
        "completed",
        5,
        2,
        3,
    )
    assert j["error_log"] == [
        {"row": 2, "error": "duplicate e-mail (same as row 1)"},
        {"row": 3, "error": "duplicate e-mail (already registered)"},
        {"row": 4, "error": "duplicate e-mail (already registered)"},
    ]
    assert one("SELECT count(*) FROM users") == users_before + 2
    assert [(u["email"], u["last_name"]) for u in job_users(job_id)] == sorted(
        [(a, "One"), (b, "Three")]
    )
    assert one("SELECT last_name FROM users WHERE email = %s", REGISTERED) == "Demo"


async def test_unknown_inactive_and_other_schools_classes(engine, storage, schools) -> None:
    a, b, c, d = emails(4)
    content = csv_text(
        f"{a},A,A,10,,class_does_not_exist",
        f"{b},B,B,10,,{schools.other_class_id}",
        f"{c},C,C,10,,{schools.inactive_class_id}",
        f"{d},D,D,10,,{schools.class_id}",
    )
    job_id = await new_job(storage, schools, content)
    await process_upload(engine, storage, job_id)

    j = job(job_id)
    assert (j["status"], j["successful_count"], j["failed_count"]) == ("completed", 1, 3)
    assert j["error_log"] == [
        {"row": 1, "error": "unknown class"},
        {"row": 2, "error": "class belongs to another school"},
        {"row": 3, "error": "class is not active"},
    ]
    assert [u["email"] for u in job_users(job_id)] == [d]
    assert d in enrolled(schools.class_id)
    assert not enrolled(schools.other_class_id) and not enrolled(schools.inactive_class_id)


async def test_bad_values_are_row_errors(engine, storage, schools) -> None:
    good, *rest = emails(10)
    content = csv_text(
        f"{rest[0]},Eight,Grader,8,,",
        f"{rest[1]},Word,Grade,ten,,",
        f"{rest[2]},Half,Grade,10.5,,",
        f"{rest[3]},No,Grade,,,",
        "not-an-email,Bad,Address,10,,",
        ",No,Address,10,,",
        f"{rest[4]},,Nameless,10,,",
        f"{rest[5]},{'x' * 101},Long,10,,",
        f"{rest[6]},Long,Id,10,{'9' * 51},",
        f"{good},Good,Row,9,,",
    )
    job_id = await new_job(storage, schools, content)
    await process_upload(engine, storage, job_id)

    j = job(job_id)
    assert (j["status"], j["total_rows"], j["successful_count"], j["failed_count"]) == (
        "completed",
        10,
        1,
        9,
    )
    assert j["error_log"] == [
        {"row": 1, "error": "grade_level must be a whole number from 9 to 12"},
        {"row": 2, "error": "grade_level must be a whole number from 9 to 12"},
        {"row": 3, "error": "grade_level must be a whole number from 9 to 12"},
        {"row": 4, "error": "grade_level is missing"},
        {"row": 5, "error": "email is not a valid address"},
        {"row": 6, "error": "email is missing"},
        {"row": 7, "error": "first_name is missing"},
        {"row": 8, "error": "first_name is longer than 100 characters"},
        {"row": 9, "error": "student_id is longer than 50 characters"},
    ]
    assert [u["email"] for u in job_users(job_id)] == [good]
    # No error text quotes a value from the file.
    assert all("@" not in e["error"] and "x" * 10 not in e["error"] for e in j["error_log"])


async def test_malformed_rows_are_row_errors(engine, storage, schools) -> None:
    a, b, c, d, e = emails(5)
    content = csv_text(
        f"{a},Short,Row,10",  # a missing column
        f'{b},"Bad"quote,Row,10,,',  # text after a closing quote
        f"{c},Too,Many,10,,,extra",
        f"{d},Fine,Row,10,,",
        "",  # a blank line and a line of commas: skipped, not counted
        ",,,,,",
        f"{e},Trailing,Commas,10,,,,",  # empty extra fields are fine
        f'{emails(1)[0]},"Never closed,Row,10,,',  # swallows the rest of the file
        f"{emails(1)[0]},Lost,Row,10,,",
    )
    job_id = await new_job(storage, schools, content)
    await process_upload(engine, storage, job_id)

    j = job(job_id)
    assert (j["status"], j["total_rows"], j["successful_count"], j["failed_count"]) == (
        "completed",
        6,
        2,
        4,
    )
    assert j["error_log"] == [
        {"row": 1, "error": "expected 6 fields, found 4"},
        {"row": 2, "error": "malformed CSV: ',' expected after '\"'"},
        {"row": 3, "error": "expected 6 fields, found 7"},
        {
            "row": 8,
            "error": "malformed CSV: a quote is never closed, so the rest of the file "
            "was unreadable",
        },
    ]
    assert [u["email"] for u in job_users(job_id)] == sorted([d, e])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (HEADER.encode() + b"\n\n,,,,,\n", "the file has a header but no data rows"),
        (
            b"email,first_name,grade_level\nx@school.example,X,10\n",
            "the header lacks the required column(s) last_name",
        ),
        (
            b"a@school.example,Ada,Lovelace,10\n",  # no header line at all
            "the header lacks the required column(s) email, first_name, last_name, grade_level",
        ),
        (
            b"email,email,first_name,last_name,grade_level\n",
            "the header names column 'email' twice",
        ),
        (
            HEADER.encode() + b"\nz@school.example,Zo\xeb,Ng,10,,\n",  # Latin-1, not UTF-8
            "the file is not UTF-8 text (invalid byte at offset 78)",
        ),
    ],
)
async def test_unusable_files_fail_the_job(engine, storage, schools, content, message) -> None:
    users_before = one("SELECT count(*) FROM users")
    job_id = await new_job(storage, schools, content)
    result = await process_upload(engine, storage, job_id)

    assert result.status == "failed"
    j = job(job_id)
    assert j["status"] == "failed" and j["completed_at"] is not None
    assert (j["successful_count"], j["failed_count"]) == (0, 0)
    assert len(j["error_log"]) == 1 and j["error_log"][0]["row"] == 0
    assert j["error_log"][0]["error"].startswith(message)
    assert one("SELECT count(*) FROM users") == users_before
    assert [a["metadata"]["status"] for a in audits(job_id)] == ["failed"]


async def test_missing_file_fails_the_job(engine, storage, schools) -> None:
    job_id = await new_job(
        storage, schools, "", file_path=(storage.root / "uploads/nope.csv").as_uri()
    )
    await process_upload(engine, storage, job_id)
    j = job(job_id)
    assert j["status"] == "failed"
    assert j["error_log"] == [{"row": 0, "error": "the uploaded file was not found in storage"}]


async def test_bare_key_is_read_from_the_storage_root(engine, storage, schools) -> None:
    (a,) = emails(1)
    await storage.put_bytes("uploads/bare.csv", csv_text(f"{a},Bare,Key,10,,").encode(), "")
    job_id = await new_job(storage, schools, "", file_path="uploads/bare.csv")
    await process_upload(engine, storage, job_id)
    assert job(job_id)["status"] == "completed"
    assert [u["email"] for u in job_users(job_id)] == [a]


@pytest.mark.parametrize(
    "file_path", ["../outside.csv", "/etc/passwd", "file:///etc/passwd", "gs://bucket/x.csv"]
)
async def test_paths_outside_the_storage_fail_the_job(engine, storage, schools, file_path) -> None:
    job_id = await new_job(storage, schools, "", file_path=file_path)
    await process_upload(engine, storage, job_id)
    j = job(job_id)
    assert j["status"] == "failed" and j["error_log"][0]["row"] == 0


async def test_a_thousand_rows_keep_the_good_ones_with_exact_counts(
    engine, storage, schools
) -> None:
    addresses = emails(1000)
    bad_rows = set(range(7, 1001, 100))  # 7, 107, …, 907: ten rows with grade 8
    lines = [
        f"{addr},First{i},Last{i},{8 if i in bad_rows else 9 + i % 4},S{i},"
        + (schools.class_id if i % 2 else "")
        for i, addr in enumerate(addresses, start=1)
    ]
    job_id = await new_job(storage, schools, csv_text(*lines))
    users_before = one("SELECT count(*) FROM users")
    enrolled_before = one(
        "SELECT count(*) FROM class_students WHERE class_id = %s", schools.class_id
    )
    started = time.monotonic()
    result = await process_upload(engine, storage, job_id)
    elapsed = time.monotonic() - started

    assert (result.total_rows, result.successful_count, result.failed_count) == (1000, 990, 10)
    j = job(job_id)
    assert (j["status"], j["total_rows"], j["successful_count"], j["failed_count"]) == (
        "completed",
        1000,
        990,
        10,
    )
    assert j["error_log"] == [
        {"row": n, "error": "grade_level must be a whole number from 9 to 12"}
        for n in sorted(bad_rows)
    ]
    assert one("SELECT count(*) FROM users") == users_before + 990
    assert len(job_users(job_id)) == 990
    # Odd rows name the class; every bad row (7, 107, …) is odd.
    assert (
        one("SELECT count(*) FROM class_students WHERE class_id = %s", schools.class_id)
        == enrolled_before + 500 - 10
    )
    assert elapsed < 60, f"1,000 rows took {elapsed:.1f} s"


async def test_rerun_of_a_finished_job_changes_nothing(engine, storage, schools) -> None:
    a, b = emails(2)
    job_id = await new_job(storage, schools, csv_text(f"{a},A,A,10,,", f"{b},B,B,13,,"))
    await process_upload(engine, storage, job_id)
    before = job(job_id)
    users_before = one("SELECT count(*) FROM users")

    again = await process_upload(engine, storage, job_id)

    assert again.skipped and again.status == "completed" and again.recheck_after_seconds is None
    assert (again.total_rows, again.successful_count, again.failed_count) == (2, 1, 1)
    assert job(job_id) == before
    assert one("SELECT count(*) FROM users") == users_before
    assert len(audits(job_id)) == 1


async def test_missing_job_is_skipped(engine, storage) -> None:
    result = await process_upload(engine, storage, "upload_job_nonexistent")
    assert result.skipped and result.status is None


async def test_job_held_by_a_live_run_is_left_alone(engine, storage, schools) -> None:
    (a,) = emails(1)
    job_id = await new_job(storage, schools, csv_text(f"{a},A,A,10,,"))
    sql(
        "UPDATE bulk_upload_jobs SET status = 'processing', "
        "started_at = now() - interval '1 minute' WHERE id = %s",
        job_id,
    )
    result = await process_upload(engine, storage, job_id)
    assert result.skipped and result.status == "processing"
    # Look again when the claim would go stale: 15 min after it was taken.
    expected = STALE_CLAIM.total_seconds() - 60
    assert result.recheck_after_seconds is not None
    assert expected - 5 < result.recheck_after_seconds < expected + 5
    assert job(job_id)["status"] == "processing" and job_users(job_id) == []


async def test_stale_run_is_taken_over_and_counts_its_imported_rows(
    engine, storage, schools
) -> None:
    a, b, c = emails(3)
    content = csv_text(
        f"{a},A,A,10,,{schools.class_id}",
        f"{b},B,B,10,,{schools.class_id}",
        f"{c},C,C,10,,",
    )
    job_id = await new_job(storage, schools, content)
    # A run that died after importing row 1 (but before enrolling it) and noting progress.
    sql(
        "INSERT INTO users (id, email, password_hash, first_name, last_name, role, org_id, "
        "grade_level, metadata) VALUES (generate_id('user'), %s, %s, 'A', 'A', 'student', %s, "
        "10, jsonb_build_object(%s::text, %s::text))",
        a,
        PASSWORD_MARKER,
        schools.school,
        BULK_JOB_KEY,
        job_id,
    )
    sql(
        "UPDATE bulk_upload_jobs SET status = 'processing', successful_count = 1, "
        "total_rows = 3, started_at = now() - interval '20 minutes' WHERE id = %s",
        job_id,
    )
    result = await process_upload(engine, storage, job_id)

    assert not result.skipped
    j = job(job_id)
    assert (j["status"], j["total_rows"], j["successful_count"], j["failed_count"]) == (
        "completed",
        3,
        3,
        0,
    )
    assert j["error_log"] == []
    assert [u["email"] for u in job_users(job_id)] == sorted([a, b, c])
    assert {a, b} <= enrolled(schools.class_id)
    assert len(audits(job_id)) == 1


async def test_a_file_over_the_size_limit_fails_the_job(
    engine, storage, schools, monkeypatch
) -> None:
    import pipeline.uploads.importer as bulk

    monkeypatch.setattr(bulk, "MAX_FILE_BYTES", 1024 * 1024)
    lines = [f"{addr},A,B,10,," for addr in emails(20_000)]  # ~0.9 MiB of addresses
    job_id = await new_job(storage, schools, csv_text(*lines) + "#" * 200_000)
    await process_upload(engine, storage, job_id)
    j = job(job_id)
    assert j["status"] == "failed" and job_users(job_id) == []
    assert j["error_log"] == [{"row": 0, "error": "the file is larger than 1 MiB; split it"}]


async def test_a_run_out_of_time_stops_between_batches_and_keeps_its_rows(
    engine, storage, schools, monkeypatch
) -> None:
    import pipeline.uploads.importer as bulk

    monkeypatch.setattr(bulk, "BATCH_ROWS", 2)
    a, b, c, d, e = emails(5)
    content = csv_text(*(f"{x},A,A,{8 if x == b else 10},," for x in (a, b, c, d, e)))
    job_id = await new_job(storage, schools, content)
    await process_upload(engine, storage, job_id, time_budget_seconds=0)

    j = job(job_id)
    assert (j["status"], j["total_rows"], j["successful_count"], j["failed_count"]) == (
        "failed",
        5,
        1,
        1,
    )
    assert j["error_log"] == [
        {"row": 2, "error": "grade_level must be a whole number from 9 to 12"},
        {
            "row": 0,
            "error": "the import was stopped after 0 s with 2 of 5 rows done (they are kept); "
            "upload the rest as a new file",
        },
    ]
    assert [u["email"] for u in job_users(job_id)] == [a]
    assert [x["metadata"]["status"] for x in audits(job_id)] == ["failed"]


class FlakyStorage:
    """LocalStorage whose reads fail once with `error`."""

    def __init__(self, inner: LocalStorage, error: Exception) -> None:
        self.inner, self.error = inner, error

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def get_bytes(self, location: str) -> bytes:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return await self.inner.get_bytes(location)


async def test_transient_storage_failure_hands_the_claim_back(engine, storage, schools) -> None:
    (a,) = emails(1)
    job_id = await new_job(storage, schools, csv_text(f"{a},A,A,10,,"))
    flaky = FlakyStorage(storage, TransientStageError("object storage is unavailable"))
    with pytest.raises(TransientStageError):
        await process_upload(engine, flaky, job_id)
    j = job(job_id)
    assert (j["status"], j["started_at"], j["completed_at"]) == ("queued", None, None)
    assert audits(job_id) == []

    # The retry claims it again at once and finishes.
    result = await process_upload(engine, flaky, job_id)
    assert result.status == "completed" and result.successful_count == 1
    assert [u["email"] for u in job_users(job_id)] == [a]


async def test_an_unexpected_error_still_ends_the_job(engine, storage, schools) -> None:
    (a,) = emails(1)
    job_id = await new_job(storage, schools, csv_text(f"{a},A,A,10,,"))
    result = await process_upload(engine, FlakyStorage(storage, KeyError("boom")), job_id)
    assert result.status == "failed"
    j = job(job_id)
    assert j["status"] == "failed" and j["completed_at"] is not None
    assert j["error_log"] == [
        {
            "row": 0,
            "error": "internal error while importing the file (KeyError); "
            "rows already imported are kept",
        }
    ]


async def test_fail_upload_gives_up_on_an_unfinished_job_only(engine, storage, schools) -> None:
    (a,) = emails(1)
    job_id = await new_job(storage, schools, csv_text(f"{a},A,A,10,,"))
    assert await fail_upload(engine, job_id, "the database is unavailable; gave up")
    j = job(job_id)
    assert j["status"] == "failed"
    assert j["error_log"] == [{"row": 0, "error": "the database is unavailable; gave up"}]
    assert not await fail_upload(engine, job_id, "again")
    assert len(job(job_id)["error_log"]) == 1 and len(audits(job_id)) == 1
    # A failed job is not run again by a late delivery.
    assert (await process_upload(engine, storage, job_id)).skipped
    assert job_users(job_id) == []


# -- parsing ---------------------------------------------------------------------------------

"""The bulk upload job: claim, read, check and import batch by batch, finish (see
pipeline/uploads/__init__.py)."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.audit import AuditTrail
from db.models import JobStatus
from db.session import unit_of_work
from db.transient import is_transient_db_error
from db.uploads import ClassInfo, ExistingUser, UploadJobRow, UploadStore
from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.providers.protocols import ObjectStorage
from pipeline.uploads.files import delete_when_ended, resolve_location
from pipeline.uploads.rows import RowError, StudentRow, UnusableFile, parse_csv

log = structlog.get_logger("vividly.bulk")

# The whole file is read into memory and imported within one task's time budget: 5 MiB
# is ~75k rows (a large district's students), imported at the ~500 rows/s measured
# against a local PostgreSQL in ~150 s, leaving room for a slower database.
MAX_FILE_BYTES = 5 * 1024 * 1024
# Rows per transaction: a crash loses at most this much work, and no transaction holds
# many row locks for long.
BATCH_ROWS = 500
# A `processing` job whose run started longer ago than this is presumed dead and may be
# taken over. Must exceed the task's hard time limit (workers/bulk.py), or a live run
# could be overtaken.
STALE_CLAIM = timedelta(minutes=15)
# Between batches, a run that has used this much time stops and fails the job with a
# clear message instead of being killed mid-batch by the task's time limit.
TIME_BUDGET_SECONDS = 480.0
# Not a bcrypt hash of anything, so no password matches it until the student sets one.
PASSWORD_MARKER = "!bulk-upload"


@dataclass(frozen=True)
class UploadResult:
    job_id: str
    status: str | None  # the job's status after this call; None: no such job
    total_rows: int | None = None
    successful_count: int = 0
    failed_count: int = 0
    skipped: bool = False  # this call changed nothing (duplicate or late delivery)
    # Set when the job is held by a run that started recently: if that run has died, the
    # job may be taken over after this many seconds.
    recheck_after_seconds: float | None = None


class _ClaimLost(Exception):
    """Another run took the job over: this run's last batch was rolled back."""


# ---- the job -----------------------------------------------------------------------------


async def process_upload(
    engine: AsyncEngine,
    storage: ObjectStorage,
    job_id: str,
    *,
    stale_after: timedelta = STALE_CLAIM,
    time_budget_seconds: float = TIME_BUDGET_SECONDS,
    delete_file_when_ended: bool = False,
) -> UploadResult:
    """Run one bulk upload job to completed|failed. Safe to call again for the same job:
    a job that is not queued is left alone (see the module docstring).

    Raises TransientStageError when storage or the database is unavailable; the claim is
    handed back first (the job is queued again), so a retry can start over at once."""
    bound = log.bind(job_id=job_id)
    async with unit_of_work(engine) as s:
        repo = UploadStore(s)
        job = await repo.claim(job_id, stale_after)
        if job is None:
            return await _skipped(repo, job_id, stale_after, bound)
    bound.info("bulk upload claimed", outcome="claimed", school_id=job.school_id)
    work = _run(engine, storage, job, time_budget_seconds, bound)
    result = await _claimed(engine, job, bound, work)
    if delete_file_when_ended and not result.skipped and result.status in _ENDED:
        await delete_when_ended(engine, storage, job.id, job.file_path)
    return result


_ENDED = (str(JobStatus.completed), str(JobStatus.failed))


async def _claimed(
    engine: AsyncEngine,
    job: UploadJobRow,
    bound: Any,
    work: Coroutine[Any, Any, UploadResult],
) -> UploadResult:
    """The import of a claimed job, `work`, and how each way it can stop ends the job:
    released for a retry (transient), ended failed (anything else), or left to the run
    that took it over."""
    job_id = job.id
    try:
        try:
            return await work
        except Exception as e:
            if isinstance(e, _ClaimLost):
                raise
            if isinstance(e, TransientStageError) or is_transient_db_error(e):
                await _release_quietly(engine, job, bound)
                if isinstance(e, TransientStageError):
                    raise
                raise TransientStageError("the database is unavailable") from e
            # A bug, or a failure nobody classified: the job must still end.
            bound.exception("bulk upload crashed", outcome="failed", error_type=type(e).__name__)
            return await _end_unusable(
                engine,
                job,
                f"internal error while importing the file ({type(e).__name__}); "
                "rows already imported are kept",
                bound,
                keep_counts=True,
            )
    except _ClaimLost:
        bound.info("bulk upload abandoned: another run took the job over", outcome="stale")
        return UploadResult(job_id, str(JobStatus.processing), skipped=True)


async def _skipped(
    repo: UploadStore, job_id: str, stale_after: timedelta, bound: Any
) -> UploadResult:
    """A duplicate or late delivery: say why nothing was done, and when a job held by
    another run could be taken over should that run have died."""
    current = await repo.job(job_id)
    bound.info(
        "bulk upload skipped",
        outcome="skipped",
        status=str(current.status) if current else None,
        reason="not found" if current is None else "not queued",
    )
    if current is None:
        return UploadResult(job_id, None, skipped=True)
    recheck = None
    if current.status == JobStatus.processing:
        age = await repo.claim_age_seconds(job_id) or 0.0
        recheck = max(stale_after.total_seconds() - age, 0.0) + 1.0
    total, ok, failed = current.counts
    return UploadResult(
        job_id, str(current.status), total, ok, failed, skipped=True, recheck_after_seconds=recheck
    )


async def fail_upload(engine: AsyncEngine, job_id: str, message: str) -> bool:
    """Give up on a job that is still queued or processing (a task out of retries or out
    of time): failed, with `message` as a row-0 error. False: it had already ended."""
    async with unit_of_work(engine) as s:
        repo = UploadStore(s)
        done = await repo.finish(
            job_id,
            JobStatus.failed,
            claimed_at=None,
            append_errors=[{"row": 0, "error": message}],
        )
        if done is not None:
            await _audit(repo, done, JobStatus.failed, *done.counts)
    log.warning("bulk upload failed", job_id=job_id, outcome="failed" if done else "already ended")
    return done is not None


async def _run(
    engine: AsyncEngine,
    storage: ObjectStorage,
    job: UploadJobRow,
    time_budget_seconds: float,
    bound: Any,
) -> UploadResult:
    started = time.monotonic()
    try:
        rows = parse_csv(await _read(storage, job.file_path))
    except UnusableFile as e:
        return await _end_unusable(engine, job, str(e), bound)

    class_ids = sorted({r.class_id for r in rows if isinstance(r, StudentRow) and r.class_id})
    async with unit_of_work(engine) as s:
        classes = await UploadStore(s).classes(class_ids)

    total, ok, failed = len(rows), 0, 0
    imported: dict[str, int] = {}  # e-mail -> the row that imported it
    for start in range(0, total, BATCH_ROWS):
        if start and time.monotonic() - started > time_budget_seconds:
            return await _end_unusable(
                engine,
                job,
                f"the import was stopped after {time_budget_seconds:.0f} s with {start} of "
                f"{total} rows done (they are kept); upload the rest as a new file",
                bound,
                keep_counts=True,
            )
        batch = rows[start : start + BATCH_ROWS]
        errors: list[RowError] = []
        async with unit_of_work(engine) as s:
            repo = UploadStore(s)
            existing = await repo.existing_users(
                sorted({r.email for r in batch if isinstance(r, StudentRow)})
            )
            for r in batch:
                error = await _import_row(repo, job, r, classes, existing, imported)
                if error is None:
                    ok += 1
                else:
                    failed += 1
                    errors.append(error)
            saved = await repo.save_progress(
                job.id,
                job.started_at,  # type: ignore[arg-type]  # set by the claim this run holds
                total_rows=total,
                successful_count=ok,
                failed_count=failed,
                new_errors=[e.as_json() for e in errors],
            )
            if not saved:
                raise _ClaimLost()
        bound.info("bulk upload batch", rows_done=start + len(batch), total_rows=total)

    duration_ms = round((time.monotonic() - started) * 1000, 1)
    return await _finish(
        engine,
        job,
        JobStatus.completed,
        bound.bind(duration_ms=duration_ms).info,
        total_rows=total,
        successful_count=ok,
        failed_count=failed,
    )


async def _read(storage: ObjectStorage, file_path: str) -> bytes:
    try:
        location = resolve_location(storage, file_path)
    except ValueError:
        raise UnusableFile(
            "the file path is neither a storage location (file:///… or gs://…) nor a "
            "relative key in this storage"
        ) from None
    try:
        if not await storage.exists(location):
            raise UnusableFile("the uploaded file was not found in storage")
        # Sized before it is read: a huge file must not take the worker's memory (a
        # child killed by the OOM killer would be redelivered and killed again).
        if await storage.size(location) > MAX_FILE_BYTES:
            raise UnusableFile(
                f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; split it"
            )
        data = await storage.get_bytes(location)
    except ValueError:
        # LocalStorage/GCSStorage refuse locations outside their root or bucket.
        raise UnusableFile("the file location is outside this worker's storage") from None
    except PermanentStageError as e:
        raise UnusableFile(f"the uploaded file could not be read from storage: {e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise UnusableFile(
            f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; split it"
        )
    return data


async def _import_row(
    repo: UploadStore,
    job: UploadJobRow,
    r: StudentRow | RowError,
    classes: dict[str, ClassInfo],
    existing: dict[str, ExistingUser],
    imported: dict[str, int],
) -> RowError | None:
    if isinstance(r, RowError):
        return r
    if r.class_id is not None:
        cls = classes.get(r.class_id)
        if cls is None:
            return RowError(r.row, "unknown class")
        if cls.school_id != job.school_id:
            return RowError(r.row, "class belongs to another school")
        if not cls.active:
            return RowError(r.row, "class is not active")
    if r.email in imported:
        return RowError(r.row, f"duplicate e-mail (same as row {imported[r.email]})")
    prior = existing.get(r.email)
    if prior is not None and prior.bulk_upload_job_id != job.id:
        return RowError(r.row, "duplicate e-mail (already registered)")
    try:
        async with repo.s.begin_nested():
            if prior is not None:
                # Imported by an earlier run of this job that died: only finish its work.
                user_id = prior.id
            else:
                user_id = await repo.insert_student(
                    email=r.email,
                    first_name=r.first_name,
                    last_name=r.last_name,
                    grade_level=r.grade_level,
                    district_student_id=r.student_id,
                    org_id=job.school_id,
                    password_hash=PASSWORD_MARKER,
                    job_id=job.id,
                )
            if r.class_id is not None:
                await repo.enrol(r.class_id, user_id)
    except IntegrityError as e:
        # The database's message quotes the values, so only the constraint is looked at.
        return RowError(r.row, _integrity_problem(str(e.orig)))
    except DBAPIError as e:
        # asyncpg's data errors (SQLSTATE class 22: too long, bad encoding, …) arrive as
        # plain DBAPIError; they are this row's fault, so they cost only this row.
        if not str(getattr(e.orig, "sqlstate", "") or "").startswith("22"):
            raise
        return RowError(r.row, "a value does not fit its column")
    imported[r.email] = r.row
    return None


def _integrity_problem(db_message: str) -> str:
    if "users_email_key" in db_message:
        return "duplicate e-mail (already registered)"  # registered since the batch began
    if "class_students_class_id_fkey" in db_message:
        return "unknown class"  # deleted since the job began
    return "the row breaks a database rule and was not saved"


async def _end_unusable(
    engine: AsyncEngine,
    job: UploadJobRow,
    message: str,
    bound: Any,
    *,
    keep_counts: bool = False,
) -> UploadResult:
    """processing -> failed with a row-0 error. keep_counts: rows imported before the
    failure stay counted (they are kept); otherwise nothing was imported."""
    zero = None if keep_counts else 0
    return await _finish(
        engine,
        job,
        JobStatus.failed,
        bound.warning,
        successful_count=zero,
        failed_count=zero,
        append_errors=[{"row": 0, "error": message}],
    )


async def _finish(
    engine: AsyncEngine,
    job: UploadJobRow,
    status: JobStatus,
    log_at: Any,
    **fields: Any,
) -> UploadResult:
    """The run's last write under its claim (counts, errors), its audit row and its log
    line; _ClaimLost if another run took the job over."""
    async with unit_of_work(engine) as s:
        repo = UploadStore(s)
        done = await repo.finish(job.id, status, claimed_at=job.started_at, **fields)
        if done is None:
            raise _ClaimLost()
        total, ok, failed = done.counts
        await _audit(repo, job, status, total, ok, failed)
    log_at(
        "bulk upload finished",
        outcome=str(status),
        total_rows=total,
        successful_count=ok,
        failed_count=failed,
    )
    return UploadResult(job.id, str(status), total, ok, failed)


async def _release_quietly(engine: AsyncEngine, job: UploadJobRow, bound: Any) -> None:
    """Hand the claim back so the retry can take it at once. If the database is down this
    fails too; then the claim goes stale and the task's delayed re-check takes it over."""
    try:
        async with unit_of_work(engine) as s:
            claimed_at = job.started_at  # set by the claim this run holds
            assert claimed_at is not None
            await UploadStore(s).release(job.id, claimed_at)
    except Exception as e:
        bound.warning("bulk upload claim not released", error_type=type(e).__name__)


async def _audit(
    repo: UploadStore,
    job: UploadJobRow,
    status: JobStatus,
    total: int | None,
    ok: int,
    failed: int,
) -> None:
    await AuditTrail(repo.s).record(
        "bulk_upload",
        "bulk_upload_job",
        job.id,
        user_id=job.uploaded_by,
        metadata={
            "status": str(status),
            "school_id": job.school_id,
            "total_rows": total,
            "successful_count": ok,
            "failed_count": failed,
        },
    )

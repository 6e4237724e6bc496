"""Retention: archive old rows as JSON lines, then soft- or hard-delete them; blank the
student text of soft-deleted requests after a grace period; delete uploaded CSVs.

Archives go to their own storage (ARCHIVE_URL), never the content storage students get
signed URLs for. Archive objects are named by the batch's first and last id, so a batch
re-run after a crash between upload and commit overwrites its own object instead of
adding another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from db.accounts import AccountStore
from db.audit import AuditTrail
from db.logs import LogTables
from db.requests import RequestStore
from db.uploads import UploadStore
from pipeline.context import Context
from pipeline.jobs.base import SWEEP_BATCH_SIZE, JobResult, sweep
from pipeline.uploads.files import delete_files

log = structlog.get_logger("vividly.jobs")

CONTENT_REQUEST_RETENTION = timedelta(days=90)
FEEDBACK_RETENTION = timedelta(days=730)
AUDIT_LOG_RETENTION = timedelta(days=7 * 365 + 2)
CONTRACT_GRACE_DAYS = 30
# The seed's retention table: requests and feedback are archived to BigQuery; audit
# logs are archived by partition, to the archive storage only.
WAREHOUSE_TABLES = frozenset({"content_requests", "feedback"})
# Rows per archive object when a whole year of audit logs is archived.
PARTITION_ARCHIVE_ROWS = 5000


def archive_key(table: str, now: datetime, rows: list[dict[str, Any]]) -> str:
    ids = f"{rows[0]['id']}|{rows[-1]['id']}|{len(rows)}"
    digest = hashlib.sha256(ids.encode()).hexdigest()[:16]
    return f"{table}/{now:%Y/%m/%d}/{digest}.jsonl"


def json_lines(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, default=str, sort_keys=True) + "\n" for r in rows).encode()


async def _archive_then_remove(
    ctx: Context,
    now: datetime,
    table: str,
    select: Callable[[AsyncConnection], Awaitable[list[dict[str, Any]]]],
    remove: Callable[[AsyncConnection, list[Any]], Awaitable[int]],
    action: str,
    result: JobResult,
) -> None:
    async def batch(s: AsyncConnection) -> int:
        rows = await select(s)
        if not rows:
            return 0
        key, data = archive_key(table, now, rows), json_lines(rows)
        location = await ctx.providers.archive.put_bytes(key, data, "application/x-ndjson")
        if ctx.providers.warehouse is not None and table in WAREHOUSE_TABLES:
            # Loaded before the rows go: if the load fails, the batch rolls back and the
            # next run archives and loads the same rows again (same key, same job).
            await ctx.providers.warehouse.load(table, key, data)
        removed = await remove(s, [r["id"] for r in rows])
        await AuditTrail(s).record(
            action,
            table,
            None,
            {"count": removed, "archive": location, "ids": [str(r["id"]) for r in rows]},
        )
        result.changed += removed
        result.details.setdefault("archives", []).append(location)
        return len(rows)

    await sweep(ctx, batch)


async def content_requests(ctx: Context, now: datetime) -> JobResult:
    result = JobResult("content_request_retention")
    cutoff = now - CONTENT_REQUEST_RETENTION
    await _archive_then_remove(
        ctx,
        now,
        "content_requests",
        lambda s: RequestStore(s).finished_before(cutoff, SWEEP_BATCH_SIZE),
        lambda s, ids: RequestStore(s).soft_delete(ids),
        "retention.archive_and_soft_delete",
        result,
    )
    return result


async def scrub_student_text(ctx: Context, now: datetime) -> JobResult:
    """Soft-deleted requests keep their row (the content they used stays counted) but,
    after request_scrub_after_days, none of the student's words."""
    result = JobResult("request_scrub")
    cutoff = now - timedelta(days=ctx.settings.request_scrub_after_days)

    async def batch(s: AsyncConnection) -> int:
        ids = await RequestStore(s).scrub_deleted_before(cutoff, SWEEP_BATCH_SIZE)
        if ids:
            await AuditTrail(s).record(
                "retention.scrub_student_text", "content_requests", None,
                {"count": len(ids), "ids": ids},
            )  # fmt: skip
        result.changed += len(ids)
        return len(ids)

    await sweep(ctx, batch)
    return result


async def upload_files(ctx: Context, now: datetime) -> JobResult:
    """Uploaded CSVs of ended jobs, older than upload_file_retention_days: deleted (the
    bulk task already deletes each at its job's end when that setting is 0; this catches
    the ones it could not, and the kept ones when they fall due)."""
    result = JobResult("upload_file_retention")
    ended_before = now - timedelta(days=ctx.settings.upload_file_retention_days)

    async def batch(s: AsyncConnection) -> int:
        jobs = await UploadStore(s).files_kept(ended_before, SWEEP_BATCH_SIZE)
        result.changed += await delete_files(s, ctx.providers.storage, jobs)
        if jobs:
            await AuditTrail(s).record(
                "retention.delete_upload_files", "bulk_upload_jobs", None,
                {"count": len(jobs), "ids": [job_id for job_id, _ in jobs]},
            )  # fmt: skip
        return len(jobs)

    await sweep(ctx, batch)
    return result


async def feedback_and_audit_logs(ctx: Context, now: datetime) -> JobResult:
    """Feedback after 2 years, row by row; audit logs after 7, a whole year's partition
    at a time once its last day is 7 years old (and, row by row, anything that fell into
    the default partition)."""
    result = JobResult("feedback_audit_retention")
    await _audit_years(ctx, now, result)
    for table, archived_as, keep in (
        ("feedback", "feedback", FEEDBACK_RETENTION),
        ("audit_logs_default", "audit_logs", AUDIT_LOG_RETENTION),
    ):
        cutoff = now - keep

        def select(s: AsyncConnection, t: str = table, c: datetime = cutoff) -> Any:
            return LogTables(s).created_before(t, c, SWEEP_BATCH_SIZE)

        def remove(s: AsyncConnection, ids: list[Any], t: str = table) -> Any:
            return LogTables(s).delete(t, ids)

        await _archive_then_remove(
            ctx, now, archived_as, select, remove, "retention.archive_and_delete", result
        )
    return result


async def _audit_years(ctx: Context, now: datetime, result: JobResult) -> None:
    cutoff = now - AUDIT_LOG_RETENTION
    async with ctx.uow() as s:
        years = await LogTables(s).audit_years()
    for year in years:
        if datetime(year + 1, 1, 1, tzinfo=UTC) > cutoff:
            continue  # some of its rows are younger than 7 years
        # Archived in read-only batches first; a run that dies here archives the same
        # batches to the same objects next time. Then one transaction drops the year.
        archives, count, after = [], 0, 0
        while True:
            async with ctx.uow() as s:
                rows = await LogTables(s).audit_year_rows(year, after, PARTITION_ARCHIVE_ROWS)
            if not rows:
                break
            archives.append(
                await ctx.providers.archive.put_bytes(
                    archive_key("audit_logs", now, rows), json_lines(rows), "application/x-ndjson"
                )
            )
            count, after = count + len(rows), rows[-1]["id"]
        async with ctx.uow() as s:
            await LogTables(s).drop_audit_year(year)
            await AuditTrail(s).record(
                "retention.archive_and_drop_partition", "audit_logs", f"audit_logs_y{year}",
                {"year": year, "count": count, "archives": archives},
            )  # fmt: skip
        result.changed += count
        result.details.setdefault("archives", []).extend(archives)
        result.details.setdefault("audit_years_dropped", []).append(year)


async def users(ctx: Context, now: datetime) -> JobResult:
    """Hard-delete users of organisations whose contract ended CONTRACT_GRACE_DAYS ago
    (organizations.metadata->>'contract_end_date'); their data goes by CASCADE."""
    result = JobResult("user_retention", details={"classes_deleted": 0})
    async with ctx.uow() as s:
        ended, unreadable = ended_contracts(
            await AccountStore(s).contract_end_dates(), now.date() - timedelta(CONTRACT_GRACE_DAYS)
        )
    if unreadable:
        # Reported and skipped: one organisation's typo must not stop retention for all.
        log.warning("contract_end_date is not an ISO date", org_ids=unreadable)
        result.details["unreadable_contract_end_date"] = unreadable
    if not ended:
        return result

    async def batch(s: AsyncConnection) -> int:
        accounts = AccountStore(s)
        doomed = await accounts.users_of_orgs(ended, SWEEP_BATCH_SIZE)
        if not doomed:
            return 0
        # Their uploads' files go first: the job rows go by CASCADE with the uploader.
        uploads = await UploadStore(s).files_uploaded_by([u["id"] for u in doomed])
        await delete_files(s, ctx.providers.storage, uploads)
        teachers = [u["id"] for u in doomed if u["role"] != "student"]
        classes = await accounts.delete_classes_of_teachers(teachers) if teachers else 0
        removed = await accounts.delete_users([u["id"] for u in doomed])
        for u in doomed:
            await AuditTrail(s).record(
                "retention.delete_user",
                "user",
                u["id"],
                {"reason": "contract ended", "org_id": u["org_id"], "role": u["role"]},
            )
        result.changed += removed
        result.details["classes_deleted"] += classes
        return len(doomed)

    await sweep(ctx, batch)
    return result


def ended_contracts(
    dates: list[tuple[str, str | None, object]], ended_by: date
) -> tuple[list[str], list[str]]:
    """(organisations whose contract ended on or before `ended_by`, their schools
    included; organisations whose contract_end_date is not an ISO date YYYY-MM-DD)."""
    ended, unreadable = set(), []
    for org_id, _, raw in dates:
        if raw is None:
            continue
        try:
            end = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            end = None
        if end is None:
            unreadable.append(org_id)
        elif end < ended_by:
            ended.add(org_id)
    ended |= {org_id for org_id, parent, _ in dates if parent in ended}
    return sorted(ended), sorted(unreadable)

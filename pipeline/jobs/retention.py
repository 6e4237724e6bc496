"""Retention: archive old rows to storage as JSON lines, then soft- or hard-delete them.

Archive objects are named by the batch's first and last id, so a batch re-run after a
crash between upload and commit overwrites its own object instead of adding another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.accounts import AccountStore
from db.audit import AuditTrail
from db.logs import LogTables
from db.requests import RequestStore
from pipeline.context import Context
from pipeline.jobs.base import SWEEP_BATCH_SIZE, JobResult, sweep

CONTENT_REQUEST_RETENTION = timedelta(days=90)
FEEDBACK_RETENTION = timedelta(days=730)
AUDIT_LOG_RETENTION = timedelta(days=7 * 365 + 2)
CONTRACT_GRACE_DAYS = 30


def archive_key(table: str, now: datetime, rows: list[dict[str, Any]]) -> str:
    ids = f"{rows[0]['id']}|{rows[-1]['id']}|{len(rows)}"
    digest = hashlib.sha256(ids.encode()).hexdigest()[:16]
    return f"archive/{table}/{now:%Y/%m/%d}/{digest}.jsonl"


def json_lines(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, default=str, sort_keys=True) + "\n" for r in rows).encode()


async def _archive_then_remove(
    ctx: Context,
    now: datetime,
    table: str,
    select: Callable[[AsyncSession], Awaitable[list[dict[str, Any]]]],
    remove: Callable[[AsyncSession, list[Any]], Awaitable[int]],
    action: str,
    result: JobResult,
) -> None:
    async def batch(s: AsyncSession) -> int:
        rows = await select(s)
        if not rows:
            return 0
        location = await ctx.providers.storage.put_bytes(
            archive_key(table, now, rows), json_lines(rows), "application/x-ndjson"
        )
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


async def feedback_and_audit_logs(ctx: Context, now: datetime) -> JobResult:
    result = JobResult("feedback_audit_retention")
    for table, keep in (("feedback", FEEDBACK_RETENTION), ("audit_logs", AUDIT_LOG_RETENTION)):
        cutoff = now - keep

        def select(s: AsyncSession, t: str = table, c: datetime = cutoff) -> Any:
            return LogTables(s).created_before(t, c, SWEEP_BATCH_SIZE)

        def remove(s: AsyncSession, ids: list[Any], t: str = table) -> Any:
            return LogTables(s).delete(t, ids)

        await _archive_then_remove(
            ctx, now, table, select, remove, "retention.archive_and_delete", result
        )
    return result


async def users(ctx: Context, now: datetime) -> JobResult:
    """Hard-delete users of organisations whose contract ended CONTRACT_GRACE_DAYS ago
    (organizations.metadata->>'contract_end_date'); their data goes by CASCADE."""
    result = JobResult("user_retention", details={"classes_deleted": 0})

    async def batch(s: AsyncSession) -> int:
        accounts = AccountStore(s)
        doomed = await accounts.users_of_ended_contracts(CONTRACT_GRACE_DAYS, SWEEP_BATCH_SIZE)
        if not doomed:
            return 0
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

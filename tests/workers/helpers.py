"""Helpers for tests that drive the real worker: submit, wait on the row, inspect it."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from tests.support import TEST_ENV, connect

TERMINAL = {"completed", "failed"}
SETTLED = TERMINAL | {"needs_clarification"}

_handed_out: set[str] = set()


def row(request_id: str) -> dict[str, Any]:
    with connect(TEST_ENV.database) as c:
        cur = c.execute("SELECT * FROM content_requests WHERE id = %s", (request_id,))
        cols = [d.name for d in cur.description or ()]
        found = cur.fetchone()
    assert found is not None, request_id
    return dict(zip(cols, found, strict=True))


def content(content_id: str) -> dict[str, Any]:
    with connect(TEST_ENV.database) as c:
        cur = c.execute("SELECT * FROM generated_content WHERE id = %s", (content_id,))
        cols = [d.name for d in cur.description or ()]
        found = cur.fetchone()
    assert found is not None, content_id
    return dict(zip(cols, found, strict=True))


def scalar(sql: str, *params: object) -> Any:
    with connect(TEST_ENV.database) as c:
        return c.execute(sql, params).fetchone()[0]


async def settle(request_id: str, statuses: set[str] = SETTLED, within: float = 60) -> dict:
    """Wait (polling the row, with a deadline) until the request reaches one of statuses."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        r = await asyncio.to_thread(row, request_id)
        if r["status"] in statuses:
            return r
        if loop.time() > deadline:
            raise AssertionError(
                f"{request_id} still {r['status']} after {within} s: "
                f"{json.dumps(r['metadata'], default=str)}"
            )
        await asyncio.sleep(0.05)


def fresh_topic() -> tuple[str, str]:
    """A (topic_id, query) pair that no request has used yet: a cache miss for anyone."""
    with connect(TEST_ENV.database) as c:
        leaves = c.execute(
            "SELECT t.id, t.title FROM topics t WHERE t.depth >= 2 "
            "AND NOT EXISTS (SELECT 1 FROM topics c WHERE c.parent_id = t.id) "
            "AND NOT EXISTS (SELECT 1 FROM content_requests r WHERE r.topic_id = t.id) "
            "ORDER BY t.id"
        ).fetchall()
    taken = {t for t, _ in leaves} & _handed_out
    free = [(t, title) for t, title in leaves if t not in taken]
    assert free, "the catalog has no unused leaf topic left for this test session"
    topic_id, title = free[0]
    _handed_out.add(topic_id)
    return topic_id, f"can you explain {title}?"


def history(r: dict[str, Any]) -> list[str]:
    return list(r["metadata"].get("history", []))


# -- ops tasks and bulk uploads ---------------------------------------------------------

UPLOADER = "user_demo_teacher"
SCHOOL = "school_demo_hs"


def send(name: str, *args: str) -> None:
    from workers.app import app

    app.send_task(name, args=list(args))


def job(job_id: str) -> dict[str, Any]:
    with connect(TEST_ENV.database) as c:
        cur = c.execute("SELECT * FROM bulk_upload_jobs WHERE id = %s", (job_id,))
        cols = [d.name for d in cur.description or ()]
        return dict(zip(cols, cur.fetchone(), strict=True))


def queued_job(file_path: str) -> str:
    job_id = f"upload_job_{uuid.uuid4().hex[:12]}"
    with connect(TEST_ENV.database) as c:
        c.execute(
            "INSERT INTO bulk_upload_jobs (id, uploaded_by, school_id, file_path) "
            "VALUES (%s, %s, %s, %s)",
            (job_id, UPLOADER, SCHOOL, file_path),
        )
    return job_id


def finished(job_id: str) -> dict[str, Any] | None:
    j = job(job_id)
    return j if j["status"] in ("completed", "failed") else None

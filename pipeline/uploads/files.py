"""Uploaded CSVs hold students' names and e-mails, so none outlives its use: a file is
deleted from storage when its job ends (or UPLOAD_FILE_RETENTION_DAYS later, swept by
the upload_file_retention job), and before its uploader's account is removed."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.session import unit_of_work
from db.uploads import UploadStore
from pipeline.providers.protocols import ObjectStorage

log = structlog.get_logger("vividly.bulk")


def resolve_location(storage: ObjectStorage, file_path: str) -> str:
    """The storage location for a job's file_path: a location as it is, a bare key
    relative to the storage's root (ValueError for `..`, absolute paths and the like)."""
    path = file_path.strip()
    return path if "://" in path else storage.location_for(path)


async def delete_files(
    session: AsyncConnection, storage: ObjectStorage, jobs: list[tuple[str, str]]
) -> int:
    """Delete each (job id, file_path)'s file and record it on the job, in the caller's
    transaction; returns how many files were there. A storage outage raises (the caller's
    transaction rolls back and a later run tries again); a path outside this storage is
    not ours to delete, and is recorded as such so it is not visited again."""
    deleted = 0
    for job_id, file_path in jobs:
        try:
            deleted += await storage.delete(resolve_location(storage, file_path))
        except ValueError:
            log.warning("upload file not in this storage; not deleted", job_id=job_id)
    if jobs:
        await UploadStore(session).mark_files_deleted([job_id for job_id, _ in jobs])
    return deleted


async def delete_when_ended(
    engine: AsyncEngine, storage: ObjectStorage, job_id: str, file_path: str
) -> None:
    """At the end of a job: its file goes now. If storage is away, the retention sweep
    deletes it on its next run; the job's outcome stands either way."""
    try:
        async with unit_of_work(engine) as s:
            await delete_files(s, storage, [(job_id, file_path)])
    except Exception as e:
        log.warning(
            "upload file not deleted yet; the retention sweep will",
            job_id=job_id,
            error_type=type(e).__name__,
        )

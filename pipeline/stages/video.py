"""fast_path_ready -> generating_video: render the video; content becomes vivid_learning.

If video fails for good, the request still ends `completed` with its vivid_now content
and the failure kept in error_message and metadata (degrade, don't discard).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db.repository import Repository, RequestRow
from pipeline.cache import object_key
from pipeline.context import Context
from pipeline.errors import PermanentStageError, StageError
from pipeline.runner import BaseStage, Dispatch, record_failure
from pipeline.stages.audio import load_lesson
from pipeline.stages.limits import hard_limit
from pipeline.states import Stage, Status


@dataclass(frozen=True)
class Rendered:
    video_url: str
    thumbnail_url: str
    duration_seconds: float
    file_size_bytes: int
    metadata: dict[str, Any] = field(default_factory=dict)


class VideoStage(BaseStage[Rendered]):
    stage = Stage.video
    claims = (Status.fast_path_ready, Status.generating_video)
    lease_seconds = hard_limit(Stage.video)

    async def start(self, repo: Repository, row: RequestRow) -> RequestRow | None:
        if row.metadata.get("role") == "follower":
            leader = await repo.load(row.metadata.get("leader_id", ""))
            if leader is not None and leader.status in self.claims:
                return None  # the leader renders; it completes this request too
        if row.status == Status.fast_path_ready:
            token = row.metadata["lease"]["token"]
            await repo.transition(
                row.id, row.status, Status.generating_video, metadata={"role": "leader"}
            )
            return await repo.claim(row.id, (Status.generating_video,), token, self.lease_seconds)
        return row

    async def work(self, ctx: Context, row: RequestRow) -> Rendered:
        storage = ctx.providers.storage
        content_id = row.generated_content_id or ""
        async with ctx.uow() as s:
            content = await Repository(s).content(content_id)
        if content is None or not content.audio_url:
            raise PermanentStageError(
                "The request's audio is missing; retry it from the audio stage."
            )
        lesson = await load_lesson(ctx, content.script_url)
        with tempfile.TemporaryDirectory(dir=ctx.workdir) as tmp:
            audio = Path(tmp) / ("narration." + content.audio_url.rsplit(".", 1)[-1])
            await storage.download(content.audio_url, audio)
            video = await ctx.providers.video.render(lesson, audio, Path(tmp))
            key = row.cache_key or ""
            video_url = await storage.put_file(
                object_key(key, "video.mp4"), video.path, "video/mp4"
            )
            thumb_url = await storage.put_file(
                object_key(key, "thumbnail.jpg"), video.thumbnail_path, "image/jpeg"
            )
            size = video.path.stat().st_size
        return Rendered(video_url, thumb_url, video.duration_seconds, size, video.metadata)

    async def complete(
        self, repo: Repository, ctx: Context, row: RequestRow, result: Rendered
    ) -> list[Dispatch]:
        await repo.lock_cache_key(row.cache_key or "")
        await repo.save_video(
            row.generated_content_id or "",
            video_url=result.video_url,
            thumbnail_url=result.thumbnail_url,
            duration_seconds=math.ceil(result.duration_seconds),
            file_size_bytes=result.file_size_bytes,
            generation_metadata={"video": result.metadata},
        )
        await repo.transition(row.id, Status.generating_video, Status.completed)
        await complete_followers(repo, row, {})
        return []

    async def fail(
        self, repo: Repository, ctx: Context, row: RequestRow, error: StageError, kind: str
    ) -> list[Dispatch]:
        if not row.generated_content_id:
            return await record_failure(repo, row, self.stage, error, kind)
        note = {
            "video_error": error.message,
            "failed_stage": "video",
            "error_kind": kind,
            "degraded_at": time.time(),
        }
        await repo.transition(
            row.id,
            row.status,
            Status.completed,
            error_message=f"Video could not be made ({error.message}); the lesson is "
            "available as script and audio.",
            metadata=note,
        )
        await complete_followers(repo, row, note)
        return []


async def complete_followers(repo: Repository, leader: RequestRow, note: dict[str, Any]) -> None:
    for f in await repo.followers(leader.id, (Status.cache_check, Status.fast_path_ready)):
        await repo.transition(
            f.id,
            f.status,
            Status.completed,
            generated_content_id=leader.generated_content_id,
            cache_hit=True,
            metadata=note,
        )

"""fast_path_ready -> generating_video: render the video; content becomes vivid_learning.

If video fails for good, the request still ends `completed` with its vivid_now content
and the failure kept in error_message and metadata (degrade, don't discard).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db.content import ContentStore
from db.repository import Repository
from db.requests import RequestRow
from pipeline import request_meta as M
from pipeline import single_flight
from pipeline.cache import NARRATION, object_key
from pipeline.concurrency import side_by_side
from pipeline.context import Context
from pipeline.errors import PermanentStageError, StageError
from pipeline.lesson_files import load_sentences, store_page
from pipeline.runner import BaseStage, Dispatch
from pipeline.stages.audio import load_lesson
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

    async def start(self, repo: Repository, row: RequestRow) -> RequestRow | None:
        if row.metadata.get(M.ROLE) == "follower":
            leader = await repo.requests.load(row.metadata.get(M.LEADER_ID, ""))
            if leader is not None and leader.status in self.claims:
                return None  # the leader renders; it completes this request too
        if row.status == Status.fast_path_ready:
            # Same stage, same claim: the lease and the crash count carry over.
            return await repo.requests.transition(
                row.id,
                row.status,
                Status.generating_video,
                metadata={M.ROLE: "leader"},
                keep_lease=True,
            )
        return row

    async def work(self, ctx: Context, row: RequestRow) -> Rendered:
        storage = ctx.providers.storage
        content_id = row.generated_content_id or ""
        async with ctx.statements() as s:
            content = await ContentStore(s).get(content_id)
        if content is None or not content.audio_url:
            raise PermanentStageError(
                "The request's audio is missing; retry it from the audio stage."
            )
        narration = content.generation_metadata.get(NARRATION, {})
        key = row.cache_key or ""
        with ctx.scratch_folder() as tmp:
            audio = Path(tmp) / ("narration." + content.audio_url.rsplit(".", 1)[-1])
            lesson, _ = await side_by_side(
                load_lesson(ctx, content.script_url), storage.download(content.audio_url, audio)
            )
            sentences = await load_sentences(
                storage, narration, lesson, float(content.duration_seconds or 0)
            )
            video = await ctx.providers.video.render(lesson, audio, sentences, Path(tmp))
            video_url, thumb_url = await side_by_side(
                storage.put_file(object_key(key, "video.mp4"), video.path, "video/mp4"),
                storage.put_file(
                    object_key(key, "thumbnail.jpg"), video.thumbnail_path, "image/jpeg"
                ),
            )
            size = video.path.stat().st_size
        # Once the video is stored, the page plays it (its poster the thumbnail) instead
        # of the audio: a video that failed for good leaves the audio page as it was.
        await store_page(storage, key, lesson, "video.mp4", "video/mp4")
        return Rendered(video_url, thumb_url, video.duration_seconds, size, video.metadata)

    async def complete(
        self, repo: Repository, ctx: Context, row: RequestRow, result: Rendered
    ) -> list[Dispatch]:
        async def save_video() -> None:
            await repo.content.save_video(
                row.generated_content_id or "",
                video_url=result.video_url,
                thumbnail_url=result.thumbnail_url,
                duration_seconds=math.ceil(result.duration_seconds),
                file_size_bytes=result.file_size_bytes,
                generation_metadata={"video": result.metadata},
            )

        return await single_flight.completed(repo, row, save_video)

    async def fail(
        self, repo: Repository, ctx: Context, row: RequestRow, error: StageError, kind: str
    ) -> list[Dispatch]:
        if not row.generated_content_id:
            return await single_flight.failed(repo, row, self.stage, error, kind)
        return await single_flight.degraded(repo, row, error, kind)

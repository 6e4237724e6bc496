"""generating_audio: check the script, narrate it, store the audio, create vivid_now content."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from db.repository import Repository
from db.requests import RequestRow
from pipeline import request_meta as M
from pipeline import single_flight
from pipeline.cache import NARRATION, content_version, object_key
from pipeline.concurrency import side_by_side
from pipeline.context import Context
from pipeline.costs import estimated_cost_usd
from pipeline.errors import PermanentStageError, SafetyDeclined
from pipeline.lesson import Lesson
from pipeline.lesson_files import store_narration_files
from pipeline.runner import BaseStage, Dispatch
from pipeline.states import Stage, Status


@dataclass(frozen=True)
class Narration:
    audio_url: str
    duration_seconds: float
    mime_type: str
    provenance: dict[str, Any]  # who wrote the script and who spoke it, and the cost


async def load_lesson(ctx: Context, url: str | None) -> Lesson:
    if not url:
        raise PermanentStageError("The request has no stored script to narrate.")
    try:
        return Lesson.model_validate_json(await ctx.providers.storage.get_bytes(url))
    except ValidationError as e:
        raise PermanentStageError("The stored script is not a valid lesson.") from e


class AudioStage(BaseStage[Narration]):
    stage = Stage.audio
    claims = (Status.generating_audio,)

    async def work(self, ctx: Context, row: RequestRow) -> Narration:
        lesson = await load_lesson(ctx, row.metadata.get(M.SCRIPT_URL))
        verdict = ctx.providers.safety.check_lesson(lesson)
        if not verdict.safe:
            raise SafetyDeclined(verdict.reason, verdict.category or "unsafe")
        storage, key = ctx.providers.storage, row.cache_key or ""
        with ctx.scratch_folder() as tmp:
            audio = await ctx.providers.speech.synthesize(lesson.narration(), Path(tmp))
            name = f"audio.{audio.extension}"
            # Side by side: each write is durable on its own (an fsync, or an upload).
            url, files = await side_by_side(
                storage.put_file(object_key(key, name), audio.path, audio.mime_type),
                store_narration_files(
                    storage,
                    key,
                    lesson,
                    audio.sentences,
                    audio.duration_seconds,
                    name,
                    audio.mime_type,
                ),
            )
        provenance = {
            NARRATION: files,
            "script": lesson.provenance,
            "speech": audio.provenance,
            "estimated_cost_usd": estimated_cost_usd(
                lesson.provenance, audio.provenance, ctx.settings.price_table
            ),
        }
        return Narration(url, audio.duration_seconds, audio.mime_type, provenance)

    async def complete(
        self, repo: Repository, ctx: Context, row: RequestRow, result: Narration
    ) -> list[Dispatch]:
        async def save_content() -> str:
            return await repo.content.save_fast_path(
                cache_key=row.cache_key or "",
                topic_id=row.topic_id or "",
                interest_id=row.interest_id or "",
                style=row.style,
                script_url=row.metadata[M.SCRIPT_URL],
                audio_url=result.audio_url,
                duration_seconds=math.ceil(result.duration_seconds),
                generation_metadata={
                    "audio_mime_type": result.mime_type,
                    "content_version": content_version(ctx.settings),
                    **result.provenance,
                },
            )

        return await single_flight.fast_path(repo, row, save_content)

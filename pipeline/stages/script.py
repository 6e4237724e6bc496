"""generating_script: write the lesson and store it as content/{cache_key}/script.json."""

from __future__ import annotations

from db.repository import Repository
from db.requests import RequestRow
from pipeline import request_meta as M
from pipeline.cache import object_key
from pipeline.context import Context
from pipeline.errors import PermanentStageError
from pipeline.runner import BaseStage, Dispatch
from pipeline.states import Stage, Status


class ScriptStage(BaseStage[str]):
    stage = Stage.script
    claims = (Status.generating_script,)
    completes_in_one_statement = True  # its transition

    async def work(self, ctx: Context, row: RequestRow) -> str:
        catalog = await ctx.catalog()
        topic = catalog.topics.get(row.topic_id or "")
        interest = catalog.interests.get(row.interest_id or "")
        if topic is None or interest is None:
            raise PermanentStageError("The request's topic or interest is no longer available.")
        # For the topic's grade band, not the student's grade: the lesson is cached for
        # every student whose request has the same topic|interest|style key.
        lesson = await ctx.providers.writer.write(topic, interest, row.style)
        return await ctx.providers.storage.put_bytes(
            object_key(row.cache_key or "", "script.json"),
            lesson.model_dump_json(indent=2).encode(),
            "application/json",
        )

    async def complete(
        self, repo: Repository, ctx: Context, row: RequestRow, result: str
    ) -> list[Dispatch]:
        await repo.requests.transition(
            row.id,
            Status.generating_script,
            Status.generating_audio,
            metadata={M.SCRIPT_URL: result},
        )
        return [Dispatch(Stage.audio, row.id)]

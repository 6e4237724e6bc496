"""cache_check: compute the cache key, serve a hit, join an in-flight generation, or lead."""

from __future__ import annotations

from db.content import ContentRow
from db.repository import Repository
from db.requests import RequestRow
from pipeline import single_flight
from pipeline.budgets import admit_within_budget
from pipeline.cache import cache_key, content_version
from pipeline.context import Context
from pipeline.errors import PermanentStageError
from pipeline.runner import BaseStage, Dispatch
from pipeline.states import Stage, Status


class CacheCheckStage(BaseStage[str]):
    stage = Stage.cache_check
    claims = (Status.cache_check,)

    async def work(self, ctx: Context, row: RequestRow) -> str:
        if row.topic_id is None or row.interest_id is None:
            raise PermanentStageError("The request has no topic or interest to look up.")
        return cache_key(row.topic_id, row.interest_id, row.style, content_version(ctx.settings))

    async def complete(
        self, repo: Repository, ctx: Context, row: RequestRow, result: str
    ) -> list[Dispatch]:
        async def within_budget() -> None:
            await admit_within_budget(repo, ctx, row.student_id)

        async def still_stored(content: ContentRow) -> bool:
            try:
                return await ctx.providers.storage.exists(content.video_url or "")
            except ValueError:  # a location this storage cannot serve (another root)
                return False

        flagged = ctx.settings.review_flagged
        return await single_flight.decide(repo, row, result, within_budget, flagged, still_stored)

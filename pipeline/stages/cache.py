"""cache_check: compute the cache key, serve a hit, join an in-flight generation, or lead."""

from __future__ import annotations

from db.repository import Repository, RequestRow
from pipeline.cache import cache_key
from pipeline.context import Context
from pipeline.errors import PermanentStageError
from pipeline.runner import BaseStage, Dispatch
from pipeline.stages.limits import hard_limit
from pipeline.states import Stage, Status


class CacheCheckStage(BaseStage[str]):
    stage = Stage.cache_check
    claims = (Status.cache_check,)
    lease_seconds = hard_limit(Stage.cache_check)

    async def work(self, ctx: Context, row: RequestRow) -> str:
        if row.topic_id is None or row.interest_id is None:
            raise PermanentStageError("The request has no topic or interest to look up.")
        return cache_key(row.topic_id, row.interest_id, row.style)

    async def complete(
        self, repo: Repository, ctx: Context, row: RequestRow, result: str
    ) -> list[Dispatch]:
        key = result
        # Everything below is decided under one lock per key: single flight.
        await repo.lock_cache_key(key)
        content = await repo.content_by_key(key)
        frm = Status.cache_check
        if content is not None and content.video_url:
            await repo.transition(
                row.id,
                frm,
                Status.completed,
                generated_content_id=content.id,
                cache_hit=True,
                metadata={"cache_key": key, "cache": "full_hit"},
            )
            return []
        leader = await repo.inflight_leader(key, exclude=row.id)
        if leader is not None:
            follow = {"cache_key": key, "role": "follower", "leader_id": leader.id}
            if content is not None and content.audio_url:
                await repo.transition(
                    row.id,
                    frm,
                    Status.fast_path_ready,
                    generated_content_id=content.id,
                    cache_hit=True,
                    metadata={**follow, "cache": "fast_path_hit"},
                )
            else:
                await repo.patch(row.id, frm, {**follow, "cache": "joined"}, cache_hit=True)
            return []
        if content is not None and content.audio_url:
            await repo.transition(
                row.id,
                frm,
                Status.fast_path_ready,
                generated_content_id=content.id,
                cache_hit=True,
                metadata={"cache_key": key, "role": "leader", "cache": "fast_path_hit"},
            )
            return [Dispatch(Stage.video, row.id)]
        await repo.transition(
            row.id,
            frm,
            Status.generating_script,
            cache_hit=False,
            metadata={"cache_key": key, "role": "leader", "cache": "miss"},
        )
        return [Dispatch(Stage.script, row.id)]

"""Every statement on generated_content: the cache lookups and writes of the stage path,
the key of a content for regeneration, and the nightly stats refresh.

One idiom: plain SQL sent by asyncpg, built once (the stage path's reason, see db/requests.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from db.driver import Record, Sql


@dataclass(frozen=True)
class ContentRow:
    id: str
    cache_key: str
    content_type: str
    script_url: str | None
    audio_url: str | None
    video_url: str | None
    thumbnail_url: str | None
    duration_seconds: int | None
    file_size_bytes: int | None
    generation_metadata: dict[str, Any]
    review_status: str | None = None  # manual_review_status: pending, approved, flagged


@dataclass(frozen=True)
class FlaggedContent:
    id: str
    topic_id: str
    interest_id: str
    style: str
    cache_key: str
    quality_score: Decimal | None
    flagged_at: str | None
    reports: int


@dataclass(frozen=True)
class ContentKey:
    topic_id: str
    interest_id: str
    style: str


def _content_row(c: Record) -> ContentRow:
    return ContentRow(
        id=c["id"],
        cache_key=c["cache_key"],
        content_type=str(c["content_type"]),
        script_url=c["script_url"],
        audio_url=c["audio_url"],
        video_url=c["video_url"],
        thumbnail_url=c["thumbnail_url"],
        duration_seconds=c["duration_seconds"],
        file_size_bytes=c["file_size_bytes"],
        generation_metadata=dict(c["generation_metadata"] or {}),
        review_status=c.get("manual_review_status"),
    )


_BY_KEY = Sql("SELECT * FROM generated_content WHERE cache_key = :key")
_BY_ID = Sql("SELECT * FROM generated_content WHERE id = :id")
# The content review gate: report_issue feedback since the last review decision, the
# decision itself (generation_metadata.review keeps when and by whom), and the list staff
# work from. Never a comment's text: only counts.
_REPORTS_SINCE_REVIEW = Sql("""
    SELECT count(*) FROM feedback f JOIN generated_content g ON g.id = f.content_id
    WHERE f.content_id = :id AND f.feedback_type = 'report_issue'
      AND f.created_at > coalesce(CAST(g.generation_metadata #>> '{review,at}' AS timestamptz),
                                  '-infinity')
""")
_SET_REVIEW = Sql("""
    UPDATE generated_content
    SET manual_review_status = CAST(:status AS text),
        generation_metadata = coalesce(generation_metadata, '{}'::jsonb)
            || jsonb_build_object('review', jsonb_build_object(
                   'status', CAST(:status AS text), 'at', clock_timestamp(),
                   'by', CAST(:by AS text), 'reports', CAST(:reports AS int)))
    WHERE id = :id
    RETURNING id
""")
# quality_score (0.00-1.00): the lesson's mean star rating over 5, from its feedback.
_RESCORE = Sql("""
    UPDATE generated_content
    SET quality_score = (SELECT round(avg(f.rating) / 5.0, 2) FROM feedback f
                         WHERE f.content_id = :id AND f.rating IS NOT NULL)
    WHERE id = :id
    RETURNING quality_score
""")
_FLAGGED = Sql("""
    SELECT g.id, g.topic_id, g.interest_id, g.style, g.cache_key, g.quality_score,
           g.generation_metadata #>> '{review,at}' AS flagged_at,
           (SELECT count(*) FROM feedback f
            WHERE f.content_id = g.id AND f.feedback_type = 'report_issue') AS reports
    FROM generated_content g WHERE g.manual_review_status = 'flagged'
    ORDER BY g.generation_metadata #>> '{review,at}' LIMIT :limit
""")
_RETIRE_ONE = Sql("""
    UPDATE generated_content
    SET cache_key = 'retired:' || id,
        generation_metadata = COALESCE(generation_metadata, '{}'::jsonb)
            || jsonb_build_object('retired_at', now(), 'retired_key', cache_key)
    WHERE id = :id AND cache_key NOT LIKE 'retired:%'
""")
# Retired content keeps its row (feedback and progress point at it) under a key no lookup
# asks for, so the next request for it generates anew. Content a live request still
# works on is left alone.
_RETIRE = Sql("""
    UPDATE generated_content AS g
    SET cache_key = 'retired:' || g.id,
        generation_metadata = COALESCE(g.generation_metadata, '{}'::jsonb)
            || jsonb_build_object('retired_at', now(), 'retired_key', g.cache_key)
    WHERE g.cache_key NOT LIKE 'retired:%'
      AND (CAST(:topic AS text) IS NULL OR g.topic_id = :topic)
      AND (CAST(:interest AS text) IS NULL OR g.interest_id = :interest)
      AND (CAST(:version AS text) IS NULL OR g.generation_metadata->>'content_version' = :version)
      AND NOT EXISTS (
          SELECT 1 FROM content_requests cr
          WHERE cr.generated_content_id = g.id AND cr.status NOT IN ('completed', 'failed'))
    RETURNING g.id
""")
_KEY_OF = Sql("SELECT topic_id, interest_id, style FROM generated_content WHERE id = :id")
# Insert the vivid_now row of a key, or refresh its script and audio.
_SAVE_FAST_PATH = Sql("""
    INSERT INTO generated_content AS g
        (id, topic_id, interest_id, style, cache_key, content_type, script_url, audio_url,
         duration_seconds, generation_metadata)
    -- The id derives from the key; if a retired row (cache purge) holds it, the new
    -- lesson gets a suffix. Under the key's lock, so two writers never race for it.
    VALUES (CASE WHEN EXISTS (SELECT 1 FROM generated_content
                              WHERE id = :id AND cache_key <> :key)
                 THEN :id || '_' || substr(md5(random()::text), 1, 8) ELSE :id END,
            :topic_id, :interest_id, :style, :key, 'vivid_now', :script_url,
            :audio_url, :duration, CAST(:meta AS jsonb))
    ON CONFLICT (cache_key) DO UPDATE SET
        script_url = excluded.script_url,
        audio_url = excluded.audio_url,
        generation_metadata = coalesce(g.generation_metadata, '{}'::jsonb)
                              || excluded.generation_metadata
    RETURNING id
""")
_SAVE_VIDEO = Sql("""
    UPDATE generated_content SET
        content_type = 'vivid_learning', video_url = :video_url,
        thumbnail_url = :thumbnail_url, duration_seconds = :duration, file_size_bytes = :size,
        generation_metadata = coalesce(generation_metadata, '{}'::jsonb) || CAST(:meta AS jsonb)
    WHERE id = :id
""")
_NEXT_IDS = Sql("SELECT id FROM generated_content WHERE id > :after ORDER BY id LIMIT :limit")
# Only rows whose figures changed are written.
_REFRESH_STATS = Sql("""
    UPDATE generated_content gc
    SET average_rating = s.avg_rating, completion_count = s.completions
    FROM (
        SELECT g.id,
               (SELECT round(avg(f.rating)::numeric, 2) FROM feedback f
                WHERE f.content_id = g.id AND f.rating IS NOT NULL) AS avg_rating,
               (SELECT count(*) FROM student_progress p
                WHERE p.content_id = g.id AND p.status = 'completed')::int AS completions
        FROM generated_content g WHERE g.id = ANY(:ids)
    ) s
    WHERE gc.id = s.id
      AND (gc.average_rating IS DISTINCT FROM s.avg_rating
           OR gc.completion_count IS DISTINCT FROM s.completions)
""")


class ContentStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.s = conn

    async def by_key(self, cache_key: str) -> ContentRow | None:
        row = await _BY_KEY.row(self.s, {"key": cache_key})
        return _content_row(row) if row else None

    async def retire(
        self, *, topic_id: str | None, interest_id: str | None, version: str | None
    ) -> list[str]:
        """Take matching content out of the cache (see _RETIRE); the ids retired."""
        params = {"topic": topic_id, "interest": interest_id, "version": version}
        return [r[0] for r in await _RETIRE.rows(self.s, params)]

    async def reports_since_review(self, content_id: str) -> int:
        return int(await _REPORTS_SINCE_REVIEW.value(self.s, {"id": content_id}))

    async def set_review(
        self, content_id: str, status: str, *, by: str | None, reports: int = 0
    ) -> bool:
        params = {"id": content_id, "status": status, "by": by, "reports": reports}
        return await _SET_REVIEW.row(self.s, params) is not None

    async def rescore(self, content_id: str) -> Decimal | None:
        """Recompute quality_score from the lesson's ratings; the new score (None: none)."""
        found = await _RESCORE.row(self.s, {"id": content_id})
        return found[0] if found else None

    async def flagged(self, limit: int = 100) -> list[FlaggedContent]:
        rows = await _FLAGGED.rows(self.s, {"limit": limit})
        return [FlaggedContent(*r) for r in rows]

    async def retire_one(self, content_id: str) -> None:
        """Out of the cache (its row stays for the feedback and progress that point at it)."""
        await _RETIRE_ONE.run(self.s, {"id": content_id})

    async def get(self, content_id: str) -> ContentRow | None:
        row = await _BY_ID.row(self.s, {"id": content_id})
        return _content_row(row) if row else None

    async def key_of(self, content_id: str) -> ContentKey | None:
        row = await _KEY_OF.row(self.s, {"id": content_id})
        return ContentKey(row[0], row[1], row[2]) if row else None

    async def save_fast_path(
        self,
        *,
        cache_key: str,
        topic_id: str,
        interest_id: str,
        style: str,
        script_url: str,
        audio_url: str,
        duration_seconds: int,
        generation_metadata: dict[str, Any],
    ) -> str:
        params = {
            "id": "content_" + cache_key[:24],
            "key": cache_key,
            "topic_id": topic_id,
            "interest_id": interest_id,
            "style": style,
            "script_url": script_url,
            "audio_url": audio_url,
            "duration": duration_seconds,
            "meta": json.dumps(generation_metadata),
        }
        return str(await _SAVE_FAST_PATH.value(self.s, params))

    async def save_video(
        self,
        content_id: str,
        *,
        video_url: str,
        thumbnail_url: str,
        duration_seconds: int,
        file_size_bytes: int,
        generation_metadata: dict[str, Any],
    ) -> None:
        params = {
            "id": content_id,
            "video_url": video_url,
            "thumbnail_url": thumbnail_url,
            "duration": duration_seconds,
            "size": file_size_bytes,
            "meta": json.dumps(generation_metadata),
        }
        await _SAVE_VIDEO.run(self.s, params)

    async def refresh_stats(self, after_id: str, limit: int) -> tuple[int, str | None]:
        """Recompute average_rating and completion_count for the next `limit` contents by
        id. Returns (rows updated, last id seen)."""
        ids = [r[0] for r in await _NEXT_IDS.rows(self.s, {"after": after_id, "limit": limit})]
        if not ids:
            return 0, None
        return await _REFRESH_STATS.run(self.s, {"ids": ids}), ids[-1]

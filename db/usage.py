"""Provider usage and estimated cost per district per day, from the generation metadata
of the lessons each district's students caused to be generated (the request that led a
generation, not the cache hits that reused it).

One idiom: plain SQL in `text()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class DistrictUsage:
    day: date
    district_id: str
    lessons_generated: int
    input_tokens: int
    output_tokens: int
    tts_characters: int
    estimated_cost_usd: float


# A school's district is its parent; a district (or a school without one) is its own.
_USAGE = text("""
    SELECT (cr.completed_at AT TIME ZONE 'UTC')::date AS day,
           COALESCE(o.parent_id, o.id) AS district_id,
           count(*) AS lessons_generated,
           COALESCE(sum((gc.generation_metadata->'script'->>'input_tokens')::bigint), 0)
               AS input_tokens,
           COALESCE(sum((gc.generation_metadata->'script'->>'output_tokens')::bigint), 0)
               AS output_tokens,
           COALESCE(sum((gc.generation_metadata->'speech'->>'characters')::bigint), 0)
               AS tts_characters,
           COALESCE(sum((gc.generation_metadata->>'estimated_cost_usd')::numeric), 0)
               AS estimated_cost_usd
    FROM content_requests cr
    JOIN generated_content gc ON gc.id = cr.generated_content_id
    JOIN users u ON u.id = cr.student_id
    JOIN organizations o ON o.id = u.org_id
    WHERE cr.cache_hit = false AND cr.completed_at >= :since
    GROUP BY 1, 2
    ORDER BY 1, 2
""")


async def usage_per_district_day(conn: AsyncConnection, since: datetime) -> list[DistrictUsage]:
    rows = await conn.execute(_USAGE, {"since": since})
    return [
        DistrictUsage(
            r.day,
            r.district_id,
            int(r.lessons_generated),
            int(r.input_tokens),
            int(r.output_tokens),
            int(r.tts_characters),
            float(r.estimated_cost_usd),
        )
        for r in rows
    ]


# The student's district (a school's parent, or the organisation itself) and the
# district's own daily budget, when it has a well-formed one.
_DISTRICT = text("""
    SELECT d.id AS district_id,
           CASE WHEN d.metadata->>'daily_budget_usd' ~ '^[0-9]+(\\.[0-9]+)?$'
                THEN (d.metadata->>'daily_budget_usd')::numeric END AS budget
    FROM users u
    JOIN organizations o ON o.id = u.org_id
    JOIN organizations d ON d.id = COALESCE(o.parent_id, o.id)
    WHERE u.id = :student
""")
# What the district's lessons led today cost, estimated.
_SPENT_TODAY = text("""
    SELECT COALESCE(sum((gc.generation_metadata->>'estimated_cost_usd')::numeric), 0)
    FROM content_requests cr
    JOIN generated_content gc ON gc.id = cr.generated_content_id
    JOIN users u ON u.id = cr.student_id
    JOIN organizations o ON o.id = u.org_id
    WHERE COALESCE(o.parent_id, o.id) = :district AND cr.cache_hit = false
      AND cr.completed_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
""")


async def district_of(conn: AsyncConnection, student_id: str) -> tuple[str | None, float | None]:
    """The student's district and its own daily budget (None when it has none)."""
    row = (await conn.execute(_DISTRICT, {"student": student_id})).one_or_none()
    if row is None:
        return None, None
    return row.district_id, float(row.budget) if row.budget is not None else None


async def spent_today(conn: AsyncConnection, district_id: str) -> float:
    """The district's estimated spend on lessons completed since 00:00 UTC."""
    return float((await conn.execute(_SPENT_TODAY, {"district": district_id})).scalar_one())

"""The seed's five sample queries as typed functions (SQL kept as the seed writes it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class RecentActivity:
    topic_id: str
    topic_title: str
    subject: str
    status: str
    last_viewed_at: datetime
    video_url: str | None
    duration_seconds: int | None


@dataclass(frozen=True)
class StudentEngagement:
    id: str
    first_name: str
    last_name: str
    last_login_at: datetime | None
    topics_completed: int
    total_requests: int
    avg_rating: Decimal
    last_activity: datetime | None


@dataclass(frozen=True)
class CacheHitRate:
    date: date
    total_requests: int
    cache_hits: int
    cache_hit_rate_percent: Decimal


@dataclass(frozen=True)
class ContentPopularity:
    subject: str
    topic_title: str
    interest: str
    view_count: int
    completion_count: int
    completion_rate: Decimal | None
    average_rating: Decimal | None


@dataclass(frozen=True)
class StrugglingStudent:
    id: str
    first_name: str
    last_name: str
    struggling_topics: int
    simplify_requests: int
    topics: list[str]


async def student_recent_activity(
    conn: AsyncConnection, student_id: str, limit: int = 10
) -> list[RecentActivity]:
    rows = await conn.execute(
        text("""
            SELECT sp.topic_id, t.title AS topic_title, t.subject, sp.status::text AS status,
                   sp.last_viewed_at, gc.video_url, gc.duration_seconds
            FROM student_progress sp
            JOIN topics t ON sp.topic_id = t.id
            LEFT JOIN generated_content gc ON sp.content_id = gc.id
            WHERE sp.student_id = :student_id
              AND sp.last_viewed_at IS NOT NULL
            ORDER BY sp.last_viewed_at DESC
            LIMIT :limit
        """),
        {"student_id": student_id, "limit": limit},
    )
    return [RecentActivity(**r._mapping) for r in rows]


async def class_engagement(conn: AsyncConnection, class_id: str) -> list[StudentEngagement]:
    # COUNT(DISTINCT …) keeps the seed's fan-out join (progress × requests × feedback) honest;
    # AVG(f.rating) still weighs each rating by that fan-out, exactly as the seed writes it.
    rows = await conn.execute(
        text("""
            SELECT u.id, u.first_name, u.last_name, u.last_login_at,
                   COUNT(DISTINCT sp.topic_id) AS topics_completed,
                   COUNT(DISTINCT cr.id) AS total_requests,
                   COALESCE(AVG(f.rating), 0) AS avg_rating,
                   MAX(sp.last_viewed_at) AS last_activity
            FROM class_students cs
            JOIN users u ON cs.student_id = u.id
            LEFT JOIN student_progress sp ON u.id = sp.student_id AND sp.status = 'completed'
            LEFT JOIN content_requests cr ON u.id = cr.student_id
            LEFT JOIN feedback f ON u.id = f.student_id
            WHERE cs.class_id = :class_id
              AND cs.dropped_at IS NULL
            GROUP BY u.id, u.first_name, u.last_name, u.last_login_at
            ORDER BY last_activity DESC NULLS LAST
        """),
        {"class_id": class_id},
    )
    return [StudentEngagement(**r._mapping) for r in rows]


async def cache_hit_rate(conn: AsyncConnection, days: int = 30) -> list[CacheHitRate]:
    rows = await conn.execute(
        text("""
            SELECT DATE_TRUNC('day', created_at)::date AS date,
                   COUNT(*) AS total_requests,
                   SUM(CASE WHEN cache_hit = true THEN 1 ELSE 0 END) AS cache_hits,
                   ROUND(100.0 * SUM(CASE WHEN cache_hit = true THEN 1 ELSE 0 END) / COUNT(*), 2)
                       AS cache_hit_rate_percent
            FROM content_requests
            WHERE created_at >= NOW() - make_interval(days => :days)
              AND status IN ('fast_path_ready', 'completed')
            GROUP BY DATE_TRUNC('day', created_at)
            ORDER BY date DESC
        """),
        {"days": days},
    )
    return [CacheHitRate(**r._mapping) for r in rows]


async def content_popularity(
    conn: AsyncConnection, min_views: int = 10, limit: int = 50
) -> list[ContentPopularity]:
    rows = await conn.execute(
        text("""
            SELECT t.subject, t.title AS topic_title, i.name AS interest,
                   gc.view_count, gc.completion_count,
                   ROUND(100.0 * gc.completion_count / NULLIF(gc.view_count, 0), 2)
                       AS completion_rate,
                   gc.average_rating
            FROM generated_content gc
            JOIN topics t ON gc.topic_id = t.id
            JOIN interests i ON gc.interest_id = i.id
            WHERE gc.view_count >= :min_views
            ORDER BY gc.view_count DESC
            LIMIT :limit
        """),
        {"min_views": min_views, "limit": limit},
    )
    return [ContentPopularity(**r._mapping) for r in rows]


async def struggling_students(
    conn: AsyncConnection, min_topics: int = 2
) -> list[StrugglingStudent]:
    rows = await conn.execute(
        text("""
            SELECT u.id, u.first_name, u.last_name,
                   COUNT(DISTINCT sp.topic_id) FILTER (WHERE sp.status = 'struggling')
                       AS struggling_topics,
                   COUNT(DISTINCT f.id) FILTER (WHERE f.feedback_type = 'make_simpler')
                       AS simplify_requests,
                   ARRAY_AGG(DISTINCT t.title) FILTER (WHERE sp.status = 'struggling') AS topics
            FROM users u
            JOIN student_progress sp ON u.id = sp.student_id
            LEFT JOIN feedback f ON u.id = f.student_id
            LEFT JOIN topics t ON sp.topic_id = t.id
            WHERE u.role = 'student'
              AND sp.status = 'struggling'
            GROUP BY u.id, u.first_name, u.last_name
            HAVING COUNT(DISTINCT sp.topic_id) FILTER (WHERE sp.status = 'struggling')
                   >= :min_topics
            ORDER BY struggling_topics DESC
        """),
        {"min_topics": min_topics},
    )
    return [StrugglingStudent(**r._mapping) for r in rows]

"""The seed's sample queries on data built so that each answer is non-trivial."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import TypeVar

import pytest

from db import queries
from db.session import create_engine, unit_of_work
from tests.support import asyncpg_url, connect, run_seed

T = TypeVar("T")

S1, S2, S3 = "user_demo_student_1", "user_demo_student_2", "user_demo_student_3"
NEWTON3, MOMENTUM = "topic_phys_newton_3", "topic_phys_newton_laws"


def query(dbname: str, fn: Callable[..., Awaitable[T]], *args: object) -> T:
    async def go() -> T:
        engine = create_engine(asyncpg_url(dbname))
        try:
            async with unit_of_work(engine) as session:
                return await fn(session, *args)
        finally:
            await engine.dispose()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def activity_db() -> Iterator[str]:
    from tests.support import migrate, scratch_database

    with scratch_database("vividly_queries") as name:
        migrate(name)
        run_seed(name)
        with connect(name) as c:
            c.execute("""
                INSERT INTO generated_content (id, topic_id, interest_id, cache_key, content_type,
                    video_url, duration_seconds, view_count, completion_count, average_rating)
                VALUES ('content_a', 'topic_phys_newton_3', 'int_basketball', 'k1',
                        'vivid_learning', 'file:///a.mp4', 95, 40, 10, 4.50),
                       ('content_b', 'topic_phys_newton_laws', 'int_soccer', 'k2',
                        'vivid_now', NULL, NULL, 12, 12, NULL),
                       ('content_c', 'topic_phys_mechanics', 'int_cooking', 'k3',
                        'vivid_now', NULL, NULL, 9, 0, NULL)
            """)
            c.execute("""
                INSERT INTO student_progress (student_id, topic_id, status, last_viewed_at,
                                              content_id)
                VALUES ('user_demo_student_1', 'topic_phys_newton_3', 'completed',
                        now() - interval '1 hour', 'content_a'),
                       ('user_demo_student_1', 'topic_phys_newton_laws', 'completed',
                        now() - interval '2 days', 'content_b'),
                       ('user_demo_student_1', 'topic_phys_mechanics', 'in_progress', NULL, NULL),
                       ('user_demo_student_2', 'topic_phys_newton_3', 'struggling',
                        now() - interval '3 hours', 'content_a'),
                       ('user_demo_student_2', 'topic_phys_newton_laws', 'struggling',
                        now() - interval '4 hours', NULL),
                       ('user_demo_student_3', 'topic_phys_newton_3', 'struggling',
                        now() - interval '5 hours', NULL)
            """)
            c.execute("""
                INSERT INTO content_requests (id, student_id, original_query, status, cache_hit,
                                              created_at)
                VALUES ('req_1', 'user_demo_student_1', 'q', 'completed', true, now()),
                       ('req_2', 'user_demo_student_1', 'q', 'completed', false, now()),
                       ('req_3', 'user_demo_student_1', 'q', 'fast_path_ready', true, now()),
                       ('req_4', 'user_demo_student_2', 'q', 'failed', true, now()),
                       ('req_5', 'user_demo_student_2', 'q', 'completed', false,
                        now() - interval '2 days'),
                       ('req_6', 'user_demo_student_2', 'q', 'completed', true,
                        now() - interval '40 days')
            """)
            c.execute("""
                INSERT INTO feedback (id, student_id, content_id, feedback_type, rating)
                VALUES ('fb_1', 'user_demo_student_1', 'content_a', 'rating_only', 5),
                       ('fb_2', 'user_demo_student_1', 'content_b', 'rating_only', 3),
                       ('fb_3', 'user_demo_student_2', 'content_a', 'make_simpler', NULL),
                       ('fb_4', 'user_demo_student_2', 'content_a', 'make_simpler', 2)
            """)
            c.execute("UPDATE class_students SET dropped_at = now() WHERE student_id = %s", (S3,))
        yield name


def test_student_recent_activity(activity_db: str) -> None:
    rows = query(activity_db, queries.student_recent_activity, S1)
    # The in-progress topic was never viewed, so it is left out; newest first.
    assert [r.topic_id for r in rows] == [NEWTON3, MOMENTUM]
    assert rows[0].video_url == "file:///a.mp4" and rows[0].duration_seconds == 95
    assert rows[1].video_url is None
    assert rows[0].topic_title == "Newton's Third Law" and rows[0].subject == "physics"


def test_class_engagement(activity_db: str) -> None:
    rows = query(activity_db, queries.class_engagement, "class_demo_physics")
    by_id = {r.id: r for r in rows}
    assert set(by_id) == {S1, S2}  # student 3 dropped the class
    assert by_id[S1].topics_completed == 2
    assert by_id[S1].total_requests == 3
    assert by_id[S1].avg_rating == Decimal("4")
    assert by_id[S2].topics_completed == 0 and by_id[S2].total_requests == 3
    assert by_id[S2].last_activity is None
    assert rows[0].id == S1  # ordered by last activity, NULLS LAST


def test_cache_hit_rate(activity_db: str) -> None:
    rows = query(activity_db, queries.cache_hit_rate)
    # Today: req_1 hit, req_2 miss, req_3 hit (req_4 failed is excluded); req_6 is too old.
    assert [(r.total_requests, r.cache_hits) for r in rows] == [(3, 2), (1, 0)]
    assert rows[0].cache_hit_rate_percent == Decimal("66.67")
    assert rows[0].date > rows[1].date


def test_content_popularity(activity_db: str) -> None:
    rows = query(activity_db, queries.content_popularity)
    assert [(r.topic_title, r.interest) for r in rows] == [
        ("Newton's Third Law", "Basketball"),
        ("Newton's Laws", "Soccer"),
    ]  # content_c has only 9 views
    assert rows[0].completion_rate == Decimal("25.00")
    assert rows[1].completion_rate == Decimal("100.00") and rows[1].average_rating is None


def test_struggling_students(activity_db: str) -> None:
    rows = query(activity_db, queries.struggling_students)
    assert len(rows) == 1  # student 3 struggles with one topic only
    (row,) = rows
    assert row.id == S2 and row.struggling_topics == 2 and row.simplify_requests == 2
    assert sorted(row.topics) == ["Newton's Laws", "Newton's Third Law"]


def test_usage_and_cost_per_district_per_day() -> None:
    """Generated lessons count for the district of the student whose request led them;
    cache hits that reused a lesson cost nothing and are not counted."""
    import json
    from datetime import UTC, datetime, timedelta

    from db.usage import usage_per_district_day
    from tests.support import migrate, scratch_database

    meta = {
        "script": {"provider": "gemini", "input_tokens": 1200, "output_tokens": 800},
        "speech": {"provider": "google_tts", "characters": 2000},
        "estimated_cost_usd": 0.0356,
    }
    with scratch_database("vividly_usage") as db:
        migrate(db)
        run_seed(db)
        with connect(db) as c:
            for n, key in enumerate(("k1", "k2")):
                c.execute(
                    "INSERT INTO generated_content (id, topic_id, interest_id, cache_key, "
                    "content_type, generation_metadata) VALUES (%s, %s, 'int_basketball', %s, "
                    "'vivid_learning', %s)",
                    (f"gc_{key}", NEWTON3 if n == 0 else MOMENTUM, key, json.dumps(meta)),
                )
            rows = [
                ("r1", S1, "gc_k1", False),
                ("r2", S2, "gc_k2", False),
                ("r3", S3, "gc_k1", True),
            ]
            for rid, student, content, hit in rows:
                c.execute(
                    "INSERT INTO content_requests (id, student_id, original_query, status, "
                    "generated_content_id, cache_hit, completed_at) "
                    "VALUES (%s, %s, 'q', 'completed', %s, %s, now())",
                    (rid, student, content, hit),
                )
            c.commit()
        since = datetime.now(UTC) - timedelta(days=1)
        (usage,) = query(db, usage_per_district_day, since)
    assert usage.district_id == "org_demo_district"  # the demo school's district
    assert (usage.lessons_generated, usage.input_tokens, usage.output_tokens) == (2, 2400, 1600)
    assert usage.tts_characters == 4000 and usage.estimated_cost_usd == pytest.approx(0.0712)

"""Every read of the catalog (topics, interests) and of a student's profile for the
pipeline: what a request may be about and who asks.

One idiom: plain SQL in `text()`, built once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pipeline.catalog import Catalog, catalog_from_rows


@dataclass(frozen=True)
class StudentInfo:
    id: str
    grade_level: int | None
    org_id: str


_TOPICS = text("SELECT * FROM topics WHERE is_active")
_INTERESTS = text("SELECT * FROM interests WHERE is_active ORDER BY display_order")
_STUDENT = text(
    "SELECT id, grade_level, org_id FROM users "
    "WHERE id = :id AND role = 'student' AND deleted_at IS NULL"
)
_RANKED_INTERESTS = text(
    "SELECT interest_id FROM student_interests WHERE student_id = :id ORDER BY rank"
)
# Retired (inactive) interests left out.
_RANKED_ACTIVE_INTERESTS = text("""
    SELECT s.interest_id FROM student_interests s JOIN interests i ON i.id = s.interest_id
    WHERE s.student_id = :id AND i.is_active IS NOT false ORDER BY s.rank
""")
_ACTIVE_INTERESTS = text(
    "SELECT id FROM interests WHERE is_active IS NOT false ORDER BY display_order, id"
)
_TOPIC_EXISTS = text("SELECT EXISTS (SELECT 1 FROM topics WHERE id = :id)")
_INTEREST_EXISTS = text("SELECT EXISTS (SELECT 1 FROM interests WHERE id = :id)")
_TOPIC_TITLE = text("SELECT title FROM topics WHERE id = :id")


class CatalogStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.s = conn

    async def load(self) -> Catalog:
        """The active catalog."""
        topics = (await self.s.execute(_TOPICS)).mappings().all()
        interests = (await self.s.execute(_INTERESTS)).mappings().all()
        return catalog_from_rows(topics, interests)

    async def student(self, student_id: str) -> StudentInfo | None:
        """An active student account, or None (unknown, deleted, or not a student)."""
        row = (await self.s.execute(_STUDENT, {"id": student_id})).one_or_none()
        return StudentInfo(row.id, row.grade_level, row.org_id) if row else None

    async def ranked_interests(self, student_id: str, *, active_only: bool = False) -> list[str]:
        sql = _RANKED_ACTIVE_INTERESTS if active_only else _RANKED_INTERESTS
        return list((await self.s.execute(sql, {"id": student_id})).scalars())

    async def active_interests(self) -> list[str]:
        return list((await self.s.execute(_ACTIVE_INTERESTS)).scalars())

    async def topic_exists(self, topic_id: str) -> bool:
        return bool((await self.s.execute(_TOPIC_EXISTS, {"id": topic_id})).scalar())

    async def interest_exists(self, interest_id: str) -> bool:
        return bool((await self.s.execute(_INTEREST_EXISTS, {"id": interest_id})).scalar())

    async def topic_title(self, topic_id: str) -> str | None:
        return (await self.s.execute(_TOPIC_TITLE, {"id": topic_id})).scalar_one_or_none()

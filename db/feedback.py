"""Statements on feedback: the regeneration task's lock and its mark.

One idiom: SQLAlchemy Core builders.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import Feedback


@dataclass(frozen=True)
class FeedbackRow:
    id: str
    student_id: str
    content_id: str
    feedback_type: str
    triggered_regeneration: bool
    regeneration_request_id: str | None


class FeedbackStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.s = conn

    async def lock(self, feedback_id: str) -> FeedbackRow | None:
        """The feedback row, locked until the transaction ends: two deliveries of one
        regeneration task queue up here, and the second sees the first's result."""
        row = (
            await self.s.execute(
                select(*Feedback.__table__.c).where(Feedback.id == feedback_id).with_for_update()
            )
        ).one_or_none()
        if row is None:
            return None
        return FeedbackRow(
            id=row.id,
            student_id=row.student_id,
            content_id=row.content_id,
            feedback_type=str(row.feedback_type),
            triggered_regeneration=bool(row.triggered_regeneration),
            regeneration_request_id=row.regeneration_request_id,
        )

    async def mark_regenerated(self, feedback_id: str, request_id: str) -> None:
        await self.s.execute(
            update(Feedback)
            .where(Feedback.id == feedback_id)
            .values(triggered_regeneration=True, regeneration_request_id=request_id)
        )

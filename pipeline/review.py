"""The content review gate: the seed's `manual_review_status` put to work.

Every feedback with a rating updates the lesson's `quality_score` (its mean rating over
5). Students report a lesson (`report_issue` feedback); after REVIEW_REPORTS_TO_FLAG reports
since its last review it is `flagged`. A flagged lesson is never served from the cache
(cache_check regenerates it, or waits for the review: REVIEW_FLAGGED), and requests
that hold it say so (`get_request`'s `content_review`). Curriculum staff list flagged
lessons and approve or flag them (`vividly review`); every decision writes an
`audit_logs` row. Only counts and ids are kept: never a report's comment.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.audit import AuditTrail
from db.feedback import FeedbackStore
from db.models import FeedbackType
from db.repository import Repository
from db.session import unit_of_work
from db.transient import is_transient_db_error
from pipeline.dispatch import Dispatch
from pipeline.errors import NotFound, TransientStageError
from pipeline.states import Stage

log = structlog.get_logger("vividly.review")

FLAGGED, APPROVED = "flagged", "approved"
REVIEW_NOTICE = "This lesson was reported and is waiting for a review by curriculum staff."
WAITING_NOTICE = "The lesson for this request is being reviewed; it follows once approved."


async def note_feedback(engine: AsyncEngine, feedback_id: str, reports_to_flag: int) -> bool:
    """Score the lesson from its ratings (`quality_score`), and count a report_issue
    feedback against it; True when this one flags it. Raises TransientStageError when
    the database is unavailable (nothing was written)."""
    try:
        return await _note_feedback(engine, feedback_id, reports_to_flag)
    except Exception as e:
        if is_transient_db_error(e):
            raise TransientStageError("the database is unavailable") from e
        raise


async def _note_feedback(engine: AsyncEngine, feedback_id: str, reports_to_flag: int) -> bool:
    async with unit_of_work(engine) as s:
        fb = await FeedbackStore(s).lock(feedback_id)
        if fb is None:
            return False
        await Repository(s).content.rescore(fb.content_id)
        if fb.feedback_type != FeedbackType.report_issue:
            return False
        content = await Repository(s).content.get(fb.content_id)
        if content is None or content.review_status == FLAGGED:
            return False
        reports = await Repository(s).content.reports_since_review(fb.content_id)
        if reports < reports_to_flag:
            log.info("content reported", content_id=fb.content_id, reports=reports)
            return False
        await _decide(s, fb.content_id, FLAGGED, None, reports, feedback_id)
    log.warning("content flagged for review", content_id=fb.content_id, reports=reports)
    return True


async def review(
    engine: AsyncEngine,
    content_id: str,
    status: str,
    user_id: str | None = None,
) -> list[Dispatch]:
    """A reviewer's decision (approved or flagged); the requests to send on (those that
    waited on this lesson's review, once approved)."""
    async with unit_of_work(engine) as s:
        repo = Repository(s)
        if await repo.content.get(content_id) is None:
            raise NotFound(f"No lesson {content_id!r}.")
        reports = await repo.content.reports_since_review(content_id)
        await _decide(s, content_id, status, user_id, reports, None)
        waiting = await repo.requests.waiting_for_review(content_id) if status == APPROVED else []
    return [Dispatch(Stage.cache_check, r) for r in waiting]


async def _decide(
    s: AsyncConnection,
    content_id: str,
    status: str,
    user_id: str | None,
    reports: int,
    feedback_id: str | None,
) -> None:
    await Repository(s).content.set_review(content_id, status, by=user_id, reports=reports)
    details = {"status": status, "reports": reports, "feedback_id": feedback_id}
    await AuditTrail(s).record(
        f"content.review.{status}", "generated_content", content_id, details, user_id=user_id
    )

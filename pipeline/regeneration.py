"""Feedback-driven regeneration: "make it simpler" and "try a different interest" become a
new content request for the same topic.

- make_simpler: the same topic and interest in the `simpler` style (nothing to do when
  the content already is `simpler`).
- try_different_interest: the same topic and style with the student's next-ranked
  interest after the content's (student_interests by rank, wrapping around; the
  top-ranked one when the content's interest is not among them). A student with no other
  ranked interest gets the first other active interest by display_order.

The topic is known, so the new request skips NLU: it is inserted in `cache_check` (see
PipelineAPI.create_for_topic) with `metadata.regenerated_from` = the feedback id. The
insert and `feedback.triggered_regeneration` / `regeneration_request_id` commit together
under a row lock on the feedback, so however often the task runs, one feedback makes at
most one request; the cache_check task is sent after that commit.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.feedback import FeedbackRow, FeedbackStore
from db.models import FeedbackType
from db.repository import Repository
from db.session import unit_of_work
from db.transient import is_transient_db_error
from pipeline.api import PipelineAPI
from pipeline.errors import RequestError, TransientStageError
from pipeline.runner import Dispatch
from pipeline.states import Stage, Status

log = structlog.get_logger("vividly.regeneration")

SIMPLER_STYLE = "simpler"
REGENERATING_TYPES = frozenset({FeedbackType.make_simpler, FeedbackType.try_different_interest})


def next_interest(current: str | None, ranked: list[str], active: list[str]) -> str | None:
    """The interest to try after `current`: the next one in the student's ranking
    (wrapping around), else the first other active interest; None if there is no other."""
    if current in ranked and len(ranked) > 1:
        return ranked[(ranked.index(current) + 1) % len(ranked)]
    others = [i for i in ranked if i != current]
    if others:
        return others[0]
    return next((i for i in active if i != current), None)


async def regenerate_from_feedback(
    engine: AsyncEngine, api: PipelineAPI, feedback_id: str
) -> str | None:
    """The id of the request this feedback triggered (made now, or by an earlier run), or
    None when the feedback asks for nothing that can be made. Raises
    TransientStageError when the database is unavailable (nothing was written)."""
    bound = log.bind(feedback_id=feedback_id)
    resend: Dispatch | None = None
    outcome = "ok"
    try:
        async with unit_of_work(engine) as s:
            repo, feedback = Repository(s), FeedbackStore(s)
            fb = await feedback.lock(feedback_id)
            if fb is None:
                bound.info("regeneration skipped", outcome="skipped", reason="no such feedback")
                return None
            bound = bound.bind(feedback_type=fb.feedback_type)
            if fb.feedback_type not in REGENERATING_TYPES:
                bound.info("regeneration skipped", outcome="skipped", reason="not a request")
                return None
            if fb.triggered_regeneration:
                if fb.regeneration_request_id is None:
                    # Triggered once, and the request since deleted: not made again.
                    bound.info("regeneration skipped", outcome="skipped", reason="deleted")
                    return None
                # A duplicate delivery. Should the first run have died between its commit
                # and its send, the request still waits in cache_check: send it again
                # (the stage ignores a task for a request that has moved on).
                if await repo.requests.status_of(fb.regeneration_request_id) == Status.cache_check:
                    resend = Dispatch(Stage.cache_check, fb.regeneration_request_id)
                request_id = fb.regeneration_request_id
                outcome = "duplicate"
            else:
                created = await _create(s, repo, api, fb, bound)
                if created is None:
                    return None
                request_id = created
                await feedback.mark_regenerated(fb.id, request_id)
                resend = Dispatch(Stage.cache_check, request_id)
    except RequestError as e:
        # The student or catalog no longer allows it (e.g. the student was removed).
        bound.warning("regeneration refused", outcome="refused", reason=str(e))
        return None
    except Exception as e:
        if is_transient_db_error(e):
            raise TransientStageError("the database is unavailable") from e
        raise
    if resend is not None:
        api.enqueue(resend)
    bound.info("regeneration requested", outcome=outcome, request_id=request_id)
    return request_id


async def _create(
    session: AsyncConnection,
    repo: Repository,
    api: PipelineAPI,
    fb: FeedbackRow,
    bound: structlog.stdlib.BoundLogger,
) -> str | None:
    content = await repo.content.key_of(fb.content_id)
    if content is None:
        bound.info("regeneration skipped", outcome="skipped", reason="content gone")
        return None
    source = await repo.requests.served(fb.student_id, fb.content_id)
    topic_id = (source and source.topic_id) or content.topic_id
    interest_id = (source and source.interest_id) or content.interest_id
    style = (source and source.style) or content.style
    if fb.feedback_type == FeedbackType.make_simpler:
        if style == SIMPLER_STYLE:
            bound.info("regeneration skipped", outcome="skipped", reason="already simpler")
            return None
        style = SIMPLER_STYLE
    else:
        chosen = next_interest(
            content.interest_id,
            await repo.catalog.ranked_interests(fb.student_id, active_only=True),
            await repo.catalog.active_interests(),
        )
        if chosen is None:
            bound.info("regeneration skipped", outcome="skipped", reason="no other interest")
            return None
        interest_id = chosen
    query = source.original_query if source else await repo.catalog.topic_title(topic_id)
    return await api.create_for_topic(
        session,
        fb.student_id,
        topic_id,
        interest_id,
        style,
        query or topic_id,
        metadata={
            "regenerated_from": fb.id,
            "source_request_id": source.id if source else None,
        },
    )

"""nlu_processing: resolve topic, interest and style from the query."""

from __future__ import annotations

import time

from db.audit import AuditTrail
from db.repository import Repository
from db.requests import RequestRow
from pipeline import request_meta as M
from pipeline.context import Context
from pipeline.errors import PermanentStageError, SafetyDeclined, StageError
from pipeline.providers.protocols import Understanding
from pipeline.runner import BaseStage, Dispatch
from pipeline.safety import SELF_HARM
from pipeline.states import Stage, Status

SELF_HARM_AUDIT_ACTION = "safety_self_harm_signal"

NO_TOPIC = (
    "No STEM topic was recognised in the question; ask about a physics, chemistry, biology, "
    "math or computer-science idea."
)


def query_text(row: RequestRow) -> str:
    """The query plus any free-text clarification answer."""
    answer = (row.metadata.get(M.CLARIFICATION) or {}).get("answer")
    return f"{row.original_query}\n{answer}" if answer else row.original_query


class NluStage(BaseStage[Understanding]):
    stage = Stage.nlu
    claims = (Status.nlu_processing,)
    completes_in_one_statement = True  # reads, then its one transition

    async def work(self, ctx: Context, row: RequestRow) -> Understanding:
        query = query_text(row)
        verdict = ctx.providers.safety.check_query(query)
        if not verdict.safe:
            raise SafetyDeclined(verdict.reason, verdict.category or "unsafe")
        understanding = await ctx.providers.resolver.understand(query, await ctx.catalog())
        if understanding.topic_id is None and not understanding.options:
            raise PermanentStageError(NO_TOPIC)
        return understanding

    async def complete(
        self, repo: Repository, ctx: Context, row: RequestRow, result: Understanding
    ) -> list[Dispatch]:
        interest = row.interest_id or result.interest_id
        if interest is None:
            ranked = await repo.catalog.ranked_interests(row.student_id)
            interest = ranked[0] if ranked else next(iter((await ctx.catalog()).interests))
        nlu = {"confidence": result.confidence, "interest_source": _source(row, result)}
        if result.topic_id is None:
            await repo.requests.transition(
                row.id,
                Status.nlu_processing,
                Status.needs_clarification,
                interest_id=interest,
                metadata={
                    M.NLU: nlu,
                    M.CLARIFICATION: {
                        "question": result.question,
                        "options": [
                            {"topic_id": o.topic_id, "title": o.title} for o in result.options
                        ],
                        "asked_at": time.time(),
                    },
                },
            )
            return []
        await repo.requests.transition(
            row.id,
            Status.nlu_processing,
            Status.cache_check,
            topic_id=result.topic_id,
            interest_id=interest,
            metadata={M.NLU: nlu},
        )
        return [Dispatch(Stage.cache_check, row.id)]

    async def fail(
        self, repo: Repository, ctx: Context, row: RequestRow, error: StageError, kind: str
    ) -> list[Dispatch]:
        dispatches = await super().fail(repo, ctx, row, error, kind)
        if isinstance(error, SafetyDeclined) and error.category == SELF_HARM:
            # In the same transaction as the failure: the school's counselling workflow
            # finds the student by this row, which holds no words of theirs.
            await AuditTrail(repo.conn).record(
                SELF_HARM_AUDIT_ACTION,
                "content_request",
                row.id,
                {"category": SELF_HARM, "stage": str(self.stage)},
                user_id=row.student_id,
            )
        return dispatches


def _source(row: RequestRow, result: Understanding) -> str:
    if row.interest_id:
        return "caller"
    return "query" if result.interest_id else "student_rank"

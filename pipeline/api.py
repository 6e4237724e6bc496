"""What API services call: submit_request, clarify, get_request, retry_request.

The API never waits on generation: it writes the row, commits, then enqueues (through the
`enqueue` callable it is given, so this module knows nothing of Celery).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.catalog import StudentInfo
from db.repository import Repository
from db.requests import RequestRow
from db.session import single_statements, unit_of_work
from pipeline import request_meta as M
from pipeline import single_flight
from pipeline.cache import DEFAULT_STYLE, LESSON_FILE_URLS, NARRATION, STYLES
from pipeline.dispatch import Dispatch
from pipeline.errors import Cancelled, NotFound, RequestError
from pipeline.inputs import checked_id, optional_id, student_text
from pipeline.providers.protocols import ObjectStorage
from pipeline.review import FLAGGED, REVIEW_NOTICE, WAITING_NOTICE
from pipeline.states import STAGE_FOR_STATUS, TERMINAL, Stage, Status

tracer = trace.get_tracer("vividly.pipeline")

MAX_QUERY_CHARS = 2000
MAX_ANSWER_CHARS = 500


class PipelineAPI:
    """`enqueue` sends a dispatch after its commit and never raises: a send the broker
    refuses is left to the watchdog (workers.client.enqueue), so a caller whose request
    was written gets its id even while Redis is away."""

    def __init__(
        self,
        engine: AsyncEngine,
        enqueue: Callable[[Dispatch], None],
        storage: ObjectStorage | None = None,
        max_query_chars: int = MAX_QUERY_CHARS,
    ) -> None:
        self.engine = engine
        self.enqueue = enqueue
        self.storage = storage
        self.max_query_chars = max_query_chars

    async def submit_request(
        self,
        student_id: str,
        query: str,
        interest_id: str | None = None,
        style: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """A new request; its id. With an idempotency key (the caller's, unique per
        student), a second submit with the same key returns the first request's id and
        writes nothing, so a caller may retry a submit whose answer it did not get."""
        with tracer.start_as_current_span("submit", kind=SpanKind.PRODUCER) as span:
            request_id = await self._submit(student_id, query, interest_id, style, idempotency_key)
            # The request's trace starts here; its id, never its words, names it.
            span.set_attribute("vividly.request_id", request_id)
            return request_id

    async def _submit(
        self,
        student_id: str,
        query: str,
        interest_id: str | None,
        style: str | None,
        idempotency_key: str | None,
    ) -> str:
        student_id = checked_id(student_id, "student id")
        interest_id = optional_id(interest_id, "interest id")
        idempotency_key = optional_id(idempotency_key, "idempotency key")
        query = student_text(query, "query", self.max_query_chars)
        style = _checked_style(style)
        # One statement, committed alone: the hot path of every API call that submits.
        async with single_statements(self.engine) as s:
            repo = Repository(s)
            request_id = await repo.requests.submit(
                student_id=student_id,
                original_query=query,
                style=style,
                interest_id=interest_id,
                idempotency_key=idempotency_key,
            )
            if request_id is None and idempotency_key is not None:
                earlier = await repo.requests.by_idempotency_key(student_id, idempotency_key)
                if earlier is not None:
                    return earlier  # already written (and sent, or the watchdog sends it)
            if request_id is None:
                await _checked_student(repo, student_id, interest_id)  # says which
                raise RequestError("The student or the interest is no longer available.")
        self.enqueue(Dispatch(Stage.nlu, request_id))
        return request_id

    async def create_for_topic(
        self,
        conn: AsyncConnection,
        student_id: str,
        topic_id: str,
        interest_id: str,
        style: str | None,
        original_query: str,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """A request whose topic and interest are already known (a regeneration), inserted
        at cache_check in the caller's transaction, validated like submit_request. The
        caller sends Dispatch(Stage.cache_check, id) after its commit."""
        student_id = checked_id(student_id, "student id")
        topic_id = checked_id(topic_id, "topic id")
        interest_id = checked_id(interest_id, "interest id")
        query = student_text(original_query, "query", self.max_query_chars)
        style = _checked_style(style)
        repo = Repository(conn)
        student = await _checked_student(repo, student_id, interest_id)
        if not await repo.catalog.topic_exists(topic_id):
            raise RequestError(f"Unknown topic {topic_id!r}.")
        # Inserted straight into cache_check: an insert, not a transition, so no edge of
        # the state machine is bypassed; the history starts where the request starts.
        return await repo.requests.create(
            student_id=student_id,
            original_query=query,
            topic_id=topic_id,
            interest_id=interest_id,
            style=style,
            status=Status.cache_check,
            metadata={
                **(metadata or {}),
                M.GRADE_LEVEL: student.grade_level,
                M.HISTORY: [str(Status.cache_check)],
            },
        )

    async def clarify(
        self, request_id: str, topic_id: str | None = None, answer: str | None = None
    ) -> Status:
        if (topic_id is None) == (answer is None):
            raise RequestError("Give exactly one of a topic id or a free-text answer.")
        topic_id = optional_id(topic_id, "topic id")
        text = None if answer is None else student_text(answer, "answer", MAX_ANSWER_CHARS)
        async with unit_of_work(self.engine) as s:
            repo = Repository(s)
            row = await self._load_in(
                repo, request_id, Status.needs_clarification, "is not waiting for a clarification"
            )
            clarification = dict(row.metadata.get(M.CLARIFICATION) or {})
            if topic_id is not None:
                if not await repo.catalog.topic_exists(topic_id):
                    raise RequestError(f"Unknown topic {topic_id!r}.")
                clarification["chosen_topic_id"] = topic_id
                await repo.requests.transition(
                    request_id,
                    Status.needs_clarification,
                    Status.cache_check,
                    topic_id=topic_id,
                    metadata={M.CLARIFICATION: clarification},
                )
                nxt = Dispatch(Stage.cache_check, request_id)
            else:
                clarification["answer"] = text
                await repo.requests.transition(
                    request_id,
                    Status.needs_clarification,
                    Status.nlu_processing,
                    metadata={M.CLARIFICATION: clarification},
                )
                nxt = Dispatch(Stage.nlu, request_id)
        self.enqueue(nxt)
        return Status.cache_check if nxt.stage == Stage.cache_check else Status.nlu_processing

    async def retry_request(self, request_id: str) -> Stage:
        """Re-open a failed request; returns the stage that failed. Earlier outputs
        are kept: past NLU it re-enters through the cache check, which serves what was
        made for its key, joins a generation in flight, or leads one."""
        async with unit_of_work(self.engine) as s:
            repo = Repository(s)
            row = await self._load_in(
                repo,
                request_id,
                Status.failed,
                "has not failed; only failed requests can be retried",
            )
            stage = retry_stage(row)
            status = single_flight.retry_status(row, stage)
            await repo.requests.transition(
                request_id,
                Status.failed,
                status,
                error_message=None,
                metadata={M.RETRIED_FROM: str(stage)},
                drop_metadata=(
                    M.FAILED_STAGE,
                    M.ERROR_KIND,
                    M.FAILED_AT,
                    M.FAILED_WITH_LEADER,
                    M.ROLE,
                    M.LEADER_ID,
                    M.FOLLOWED,
                    M.CANCEL_REQUESTED,
                    M.CANCEL_DEFERRED,
                ),
            )
        self.enqueue(Dispatch(STAGE_FOR_STATUS[status], request_id))
        return stage

    async def cancel_request(self, request_id: str) -> dict[str, Any]:
        """Cancel a request in progress; its view after.

        Nobody working on it (waiting for a clarification, a follower waiting for its
        leader, a task in the queue, a worker that died): it ends now. A worker on it: it
        is marked, and the worker ends it at its next heartbeat or before completing.
        Leading a generation other requests wait on: that goes on for them, and this
        request ends cancelled once their content is made. A request already completed or
        failed cannot be cancelled (RequestError)."""
        async with unit_of_work(self.engine) as s:
            repo = Repository(s)
            peek = await self._load(repo, request_id)
            # The key's lock before the row's, in the order single flight takes them.
            if peek.cache_key:
                await repo.locks.cache_key(peek.cache_key)
            row = await self._load(repo, request_id, for_update=True)
            if row.status in TERMINAL:
                raise RequestError(
                    f"Request {request_id} is already {row.status}; only a request in "
                    "progress can be cancelled."
                )
            dispatches: list[Dispatch] = []
            if M.CANCEL_DEFERRED in row.metadata:
                pass  # asked before: it ends once its followers have their content
            elif await single_flight.waiting_on(repo, row):
                await repo.requests.mark_cancel(row.id, row.status, deferred=True)
            elif await repo.requests.leased(row.id):
                if M.CANCEL_REQUESTED not in row.metadata:
                    await repo.requests.mark_cancel(row.id, row.status, deferred=False)
            else:
                # Nobody holds it (again: a worker that was on it may have died since the
                # first ask), so it ends here, not at the watchdog's next re-dispatch.
                stage = STAGE_FOR_STATUS.get(row.status, Stage.nlu)
                dispatches = await single_flight.failed(repo, row, stage, Cancelled(), "cancelled")
        for d in dispatches:
            self.enqueue(d)
        return await self.get_request(request_id)

    async def retry_failed(
        self, stage: str | None = None, since: datetime | None = None, limit: int = 500
    ) -> list[tuple[str, Stage]]:
        """Re-open every failed request matching the filter; returns (id, stage) pairs."""
        async with unit_of_work(self.engine) as s:
            rows = await Repository(s).requests.failed(stage, since, limit)
        retried = []
        for r in rows:
            try:
                retried.append((r["id"], await self.retry_request(r["id"])))
            except RequestError:
                continue  # moved on since the listing (retried by someone else)
        return retried

    async def get_request(self, request_id: str, *, sign: bool = False) -> dict[str, Any]:
        async with unit_of_work(self.engine) as s:
            repo = Repository(s)
            row = await self._load(repo, request_id)
            content = (
                await repo.content.get(row.generated_content_id)
                if row.generated_content_id
                else None
            )
        narration = content.generation_metadata.get(NARRATION, {}) if content else {}
        view: dict[str, Any] = {
            "id": row.id,
            "student_id": row.student_id,
            "status": str(row.status),
            "topic_id": row.topic_id,
            "interest_id": row.interest_id,
            "style": row.style,
            "cache_hit": row.cache_hit,
            "generated_content_id": row.generated_content_id,
            "error_message": row.error_message,
            "retry_count": row.retry_count,
            "content_type": content.content_type if content else None,
            "script_url": (content.script_url if content else None)
            or row.metadata.get(M.SCRIPT_URL),
            "audio_url": content.audio_url if content else None,
            "video_url": content.video_url if content else None,
            "thumbnail_url": content.thumbnail_url if content else None,
            # Captions, transcript and the lesson page, beside the media (lesson_files).
            **{k: narration.get(k) for k in LESSON_FILE_URLS},
            "duration_seconds": content.duration_seconds if content else None,
            # The content review gate: a reported lesson says so to whoever holds it.
            "content_review": content.review_status if content else None,
            "notice": _review_notice(row, content.review_status if content else None),
            "failed_stage": row.metadata.get(M.FAILED_STAGE),
            "cancel_requested": M.CANCEL_REQUESTED in row.metadata,
            "cancelled": row.metadata.get(M.CANCELLED),
            "clarification": _public_clarification(row),
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "completed_at": row.completed_at.isoformat() if row.completed_at else None,
        }
        if sign and self.storage is not None:
            view["signed_urls"] = {
                k: self.storage.signed_url(view[k])
                for k in (
                    "script_url",
                    "audio_url",
                    "video_url",
                    "thumbnail_url",
                    *LESSON_FILE_URLS,
                )
                if view[k]
            }
        return view

    @staticmethod
    async def _load(repo: Repository, request_id: str, for_update: bool = False) -> RequestRow:
        request_id = checked_id(request_id, "request id")
        row = await repo.requests.load(request_id, for_update=for_update)
        if row is None:
            raise NotFound(f"No request {request_id!r}.")
        return row

    @classmethod
    async def _load_in(
        cls, repo: Repository, request_id: str, status: Status, refusal: str
    ) -> RequestRow:
        """The row, locked, if it is in `status`; otherwise a RequestError that says why."""
        row = await cls._load(repo, request_id, for_update=True)
        if row.status != status:
            raise RequestError(f"Request {request_id} {refusal} (status: {row.status}).")
        return row


def _checked_style(style: str | None) -> str:
    style = checked_id(style or DEFAULT_STYLE, "style")
    if style not in STYLES:
        raise RequestError(f"Unknown style {style!r}; choose one of {sorted(STYLES)}.")
    return style


async def _checked_student(
    repo: Repository, student_id: str, interest_id: str | None
) -> StudentInfo:
    student = await repo.catalog.student(student_id)
    if student is None:
        raise RequestError(f"Unknown student {student_id!r}.")
    if interest_id is not None and not await repo.catalog.interest_exists(interest_id):
        raise RequestError(f"Unknown interest {interest_id!r}.")
    return student


def retry_stage(row: RequestRow) -> Stage:
    failed = str(row.metadata.get(M.FAILED_STAGE))
    stage = Stage(failed) if failed in Stage.__members__ else Stage.nlu
    # Later stages need earlier outputs; fall back to the first stage that has its inputs.
    if stage == Stage.video and not row.generated_content_id:
        stage = Stage.audio
    if stage == Stage.audio and not row.metadata.get(M.SCRIPT_URL):
        stage = Stage.script
    if stage in (Stage.script, Stage.audio) and not row.cache_key:
        stage = Stage.cache_check
    if stage == Stage.cache_check and not row.topic_id:
        stage = Stage.nlu
    return stage


def _review_notice(row: RequestRow, review_status: str | None) -> str | None:
    if review_status == FLAGGED:
        return REVIEW_NOTICE
    if row.status == Status.cache_check and M.REVIEW_WAIT in row.metadata:
        return WAITING_NOTICE
    return None


def _public_clarification(row: RequestRow) -> dict[str, Any] | None:
    c = row.metadata.get(M.CLARIFICATION)
    if not c:
        return None
    return {"question": c.get("question"), "options": c.get("options", [])}

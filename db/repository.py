"""All SQL the pipeline runs against content_requests and generated_content.

Status changes are compare-and-set: `UPDATE … WHERE id = :id AND status = :from`; no row
back means another worker moved the request first (StaleClaim). The legal edges are
checked against pipeline.states before any statement is sent.
"""

from __future__ import annotations

import enum
import functools
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, cast, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ContentRequest, GeneratedContent, Interest, Topic
from pipeline import request_meta as M
from pipeline.catalog import Catalog, InterestInfo, TopicInfo
from pipeline.errors import StaleClaim
from pipeline.states import STAGE_FOR_STATUS, Stage, Status, check

CR = ContentRequest
GC = GeneratedContent
# Core, not ORM, statements on content_requests: the stage path runs several per task and
# ORM-enabled UPDATE … RETURNING costs about a millisecond of Python each.
T: Table = ContentRequest.__table__  # type: ignore[assignment]  # a mapped class's Table


@dataclass(frozen=True)
class RequestRow:
    id: str
    student_id: str
    original_query: str
    topic_id: str | None
    interest_id: str | None
    style: str
    status: Status
    cache_hit: bool
    generated_content_id: str | None
    error_message: str | None
    retry_count: int
    metadata: dict[str, Any]
    created_at: datetime | None
    completed_at: datetime | None

    @property
    def cache_key(self) -> str | None:
        return self.metadata.get(M.CACHE_KEY)


@dataclass(frozen=True)
class StudentInfo:
    id: str
    grade_level: int | None
    org_id: str


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


def new_id(prefix: str) -> str:
    """The seed's generate_id(prefix) format, without a round trip to the database."""
    return f"{prefix}_{secrets.token_hex(8)}"


def _request_row(row: Any) -> RequestRow:
    r = row._mapping
    return RequestRow(
        id=r["id"],
        student_id=r["student_id"],
        original_query=r["original_query"],
        topic_id=r["topic_id"],
        interest_id=r["interest_id"],
        style=r["style"] or "conversational",
        status=Status(r["status"]),
        cache_hit=bool(r["cache_hit"]),
        generated_content_id=r["generated_content_id"],
        error_message=r["error_message"],
        retry_count=r["retry_count"] or 0,
        metadata=dict(r["metadata"] or {}),
        created_at=r["created_at"],
        completed_at=r["completed_at"],
    )


def _content_row(row: Any) -> ContentRow:
    c = row._mapping
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
    )


def _jsonb(value: Any) -> Any:
    return cast(literal(value, type_=JSONB), JSONB)


class Unset(enum.Enum):
    """A keyword parameter left out (None is a value: it clears the column)."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True)
class Lease:
    """Who works on a request: one delivery of a stage's task. `task_id` is the Celery
    message id and `attempt` its retry number, so a redelivery of the same message after
    its worker died is told from the same task's own scheduled retry."""

    task_id: str
    attempt: int


@dataclass(frozen=True)
class Claim:
    """A claimed request and the execution counters of its current stage, after this
    claim: deliveries (claims), crashes (earlier claims whose lease died) and attempts
    (crashes plus attempts that raised a transient error)."""

    row: RequestRow
    deliveries: int
    crashes: int
    attempts: int


# The hot statements of the stage path, as plain SQL: built once, nothing to compile or
# cache-key per call (measured: ORM-enabled UPDATE … RETURNING costs about a millisecond
# of Python each, several per task). Lease times are the database's clock_timestamp(),
# never a worker's clock.
#
# Claim: lock the request row if it is in a status the stage works on, then take the
# lease on its execution row unless another live lease holds it. An earlier lease still
# set means that claim died without completing or releasing (its worker was killed): a
# crash, unless it is this same message's earlier try that scheduled this retry.
_CLAIM = text("""
    WITH r AS (
        SELECT * FROM content_requests
        WHERE id = :id AND status = ANY(CAST(:statuses AS request_status[]))
          AND deleted_at IS NULL
        FOR UPDATE
    ), e AS (
        INSERT INTO request_execution AS e
            (request_id, stage, lease_task_id, lease_try, lease_expires_at, heartbeat_at,
             claimed_at, deliveries)
        SELECT r.id, :stage, :task_id, :try,
               clock_timestamp() + make_interval(secs => :lease), clock_timestamp(),
               clock_timestamp(), 1
        FROM r
        ON CONFLICT (request_id) DO UPDATE SET
            stage = excluded.stage,
            lease_task_id = excluded.lease_task_id,
            lease_try = excluded.lease_try,
            lease_expires_at = excluded.lease_expires_at,
            heartbeat_at = excluded.heartbeat_at,
            claimed_at = excluded.claimed_at,
            deliveries = e.deliveries + 1,
            crashes = e.crashes + CAST(e.lease_task_id IS NOT NULL AND NOT (
                e.lease_task_id = excluded.lease_task_id AND e.lease_try < excluded.lease_try
            ) AS int),
            attempts = e.attempts + CAST(e.lease_task_id IS NOT NULL AND NOT (
                e.lease_task_id = excluded.lease_task_id AND e.lease_try < excluded.lease_try
            ) AS int)
        WHERE e.lease_task_id IS NULL
           OR e.lease_task_id = excluded.lease_task_id
           OR e.lease_expires_at < clock_timestamp()
        RETURNING e.deliveries, e.crashes, e.attempts
    )
    SELECT r.*, e.deliveries AS x_deliveries, e.crashes AS x_crashes, e.attempts AS x_attempts
    FROM r, e
""")

_HEARTBEAT = text("""
    UPDATE request_execution
    SET lease_expires_at = clock_timestamp() + make_interval(secs => :lease),
        heartbeat_at = clock_timestamp()
    WHERE request_id = :id AND lease_task_id = :task_id AND lease_try = :try
    RETURNING 1
""")

# A transient failure under the lease: count the attempt, let the lease go and note
# when the retry's message is due (the watchdog measures "lost" from then).
_RELEASE_FOR_RETRY = text("""
    WITH e AS (
        UPDATE request_execution
        SET lease_task_id = NULL, lease_try = NULL, lease_expires_at = NULL,
            attempts = attempts + 1,
            dispatched_at = clock_timestamp() + make_interval(secs => :countdown)
        WHERE request_id = :id AND lease_task_id = :task_id AND lease_try = :try
        RETURNING attempts
    ), r AS (
        UPDATE content_requests SET retry_count = coalesce(retry_count, 0) + 1
        WHERE id = (SELECT :id FROM e)
    )
    SELECT attempts FROM e
""")

_LEASE_STATE = text("""
    SELECT lease_task_id = :task_id AND lease_try = :try AS ours,
           lease_task_id IS NULL OR lease_expires_at < clock_timestamp() AS free,
           attempts
    FROM request_execution WHERE request_id = :id
""")

_NOTE_DISPATCHED = text("""
    INSERT INTO request_execution AS e (request_id, stage, dispatched_at)
    VALUES (:id, :stage, clock_timestamp())
    ON CONFLICT (request_id) DO UPDATE SET dispatched_at = excluded.dispatched_at
""")

# Only the lease holder may complete, retry, fail or degrade a request (SPEC rule 3).
_LEASE_GUARD = """
    AND EXISTS (SELECT 1 FROM request_execution x WHERE x.request_id = :id
                AND x.lease_task_id = :lease_task_id AND x.lease_try = :lease_try)
"""

# After a status change, the execution row starts over for the new stage: no lease, no
# counters (unless the stage stays the same, as fast_path_ready -> generating_video
# does within one video claim), dispatched now (the caller sends the task after commit).
_EXECUTION_RESET = """
    , x AS (
        INSERT INTO request_execution AS e (request_id, stage, dispatched_at)
        SELECT id, CAST(:x_stage AS varchar), clock_timestamp() FROM t
        ON CONFLICT (request_id) DO UPDATE SET
            stage = excluded.stage,
            dispatched_at = excluded.dispatched_at,
            lease_task_id = CASE WHEN :x_keep_lease THEN e.lease_task_id END,
            lease_try = CASE WHEN :x_keep_lease THEN e.lease_try END,
            lease_expires_at = CASE WHEN :x_keep_lease THEN e.lease_expires_at END,
            deliveries = CASE WHEN e.stage IS NOT DISTINCT FROM excluded.stage
                              THEN e.deliveries ELSE 0 END,
            crashes = CASE WHEN e.stage IS NOT DISTINCT FROM excluded.stage
                           THEN e.crashes ELSE 0 END,
            attempts = CASE WHEN e.stage IS NOT DISTINCT FROM excluded.stage
                            THEN e.attempts ELSE 0 END
    )
"""


def _patch_sql(guard: str) -> Any:
    """UPDATE of a request that stays in its status (metadata, cache_hit); its lease is
    released and it counts as dispatched now."""
    return text(f"""
    WITH t AS (
        UPDATE content_requests
        SET metadata = (coalesce(metadata, '{{}}'::jsonb) - CAST(:drop AS text[]))
                       || CAST(:patch AS jsonb),
            cache_hit = coalesce(CAST(:cache_hit AS boolean), cache_hit)
        WHERE id = :id AND status = CAST(:status AS request_status) {guard}
        RETURNING id
    ), x AS (
        INSERT INTO request_execution AS e (request_id, stage, dispatched_at)
        SELECT id, CAST(:x_stage AS varchar), clock_timestamp() FROM t
        ON CONFLICT (request_id) DO UPDATE SET
            dispatched_at = excluded.dispatched_at,
            lease_task_id = NULL, lease_try = NULL, lease_expires_at = NULL
    )
    SELECT id FROM t
""")


_PATCH = _patch_sql("")
_PATCH_LEASED = _patch_sql(_LEASE_GUARD)


_STUDENT = text(
    "SELECT id, grade_level, org_id FROM users "
    "WHERE id = :id AND role = 'student' AND deleted_at IS NULL"
)
_RANKED_INTERESTS = text(
    "SELECT interest_id FROM student_interests WHERE student_id = :id ORDER BY rank"
)
_TOPIC_EXISTS = text("SELECT EXISTS (SELECT 1 FROM topics WHERE id = :id)")
_INTEREST_EXISTS = text("SELECT EXISTS (SELECT 1 FROM interests WHERE id = :id)")
_CONTENT_BY_KEY = text("SELECT * FROM generated_content WHERE cache_key = :key")
_CONTENT_BY_ID = text("SELECT * FROM generated_content WHERE id = :id")
_LOCK_KEY = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


@functools.lru_cache(maxsize=64)
def _transition_sql(columns: tuple[str, ...], completes: bool, leased: bool) -> Any:
    """UPDATE … SET status = :to … WHERE id = :id AND status = :frm RETURNING *, with the
    metadata patch merged, keys dropped and the new status appended to metadata.history;
    the execution row starts over for the new stage in the same statement."""
    sets = [f"{c} = :{c}" for c in columns]
    if completes and "completed_at" not in columns:
        sets.append("completed_at = now()")
    extra = "".join(f", {x}" for x in sets)
    guard = _LEASE_GUARD if leased else ""
    return text(f"""
        WITH t AS (
            UPDATE content_requests
            SET status = CAST(:to AS request_status),
                metadata = jsonb_set(
                    (coalesce(metadata, '{{}}'::jsonb) - CAST(:drop AS text[]))
                        || CAST(:patch AS jsonb),
                    '{{history}}',
                    coalesce(metadata->'history', '[]'::jsonb) || to_jsonb(CAST(:to AS text)))
                {extra}
            WHERE id = :id AND status = CAST(:frm AS request_status) {guard}
            RETURNING *
        ) {_EXECUTION_RESET}
        SELECT * FROM t
    """)


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    # ---- content_requests ------------------------------------------------------------

    async def load(self, request_id: str, *, for_update: bool = False) -> RequestRow | None:
        stmt = select(T).where(T.c.id == request_id, T.c.deleted_at.is_(None))
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.s.execute(stmt)).one_or_none()
        return _request_row(row) if row else None

    async def create(self, **values: Any) -> str:
        values.setdefault("id", new_id("req"))
        await self.s.execute(insert(T).values(**values))
        return str(values["id"])

    async def claim(
        self, request_id: str, statuses: tuple[Status, ...], lease: Lease, lease_seconds: float
    ) -> Claim | None:
        """Take the work lease on a request in one of `statuses`, unless another live
        lease holds it. None means: wrong status, or someone else is working on it."""
        row = (
            await self.s.execute(
                _CLAIM,
                {
                    "id": request_id,
                    "statuses": [str(x) for x in statuses],
                    "stage": str(STAGE_FOR_STATUS[statuses[0]]),
                    "task_id": lease.task_id,
                    "try": lease.attempt,
                    "lease": lease_seconds,
                },
            )
        ).one_or_none()
        if row is None:
            return None
        m = row._mapping
        return Claim(_request_row(row), m["x_deliveries"], m["x_crashes"], m["x_attempts"])

    async def heartbeat(self, request_id: str, lease: Lease, lease_seconds: float) -> bool:
        """Renew the lease; False means it is no longer ours (another worker took it)."""
        params = {"id": request_id, "task_id": lease.task_id, "try": lease.attempt}
        found = await self.s.execute(_HEARTBEAT, {**params, "lease": lease_seconds})
        return found.one_or_none() is not None

    async def release_for_retry(
        self, request_id: str, lease: Lease, countdown_seconds: float
    ) -> int | None:
        """Count a failed attempt and let the lease go; the attempts of the current stage
        so far, or None when this delivery does not hold the lease."""
        params = {"id": request_id, "task_id": lease.task_id, "try": lease.attempt}
        found = await self.s.execute(_RELEASE_FOR_RETRY, {**params, "countdown": countdown_seconds})
        return found.scalar_one_or_none()

    async def lease_state(self, request_id: str, lease: Lease) -> tuple[bool, bool, int]:
        """(held by this delivery, held by nobody live, attempts of the current stage)."""
        params = {"id": request_id, "task_id": lease.task_id, "try": lease.attempt}
        row = (await self.s.execute(_LEASE_STATE, params)).one_or_none()
        if row is None:
            return False, True, 0
        return bool(row.ours), bool(row.free), int(row.attempts)

    async def note_dispatched(self, request_id: str, stage: Stage) -> None:
        """A task for this request is about to be sent again (the watchdog)."""
        await self.s.execute(_NOTE_DISPATCHED, {"id": request_id, "stage": str(stage)})

    async def transition(
        self,
        request_id: str,
        frm: Status,
        to: Status,
        *,
        metadata: dict[str, Any] | None = None,
        drop_metadata: tuple[str, ...] = (),
        lease: Lease | None = None,
        keep_lease: bool = False,
        topic_id: str | Unset = UNSET,
        interest_id: str | Unset = UNSET,
        generated_content_id: str | None | Unset = UNSET,
        cache_hit: bool | Unset = UNSET,
        error_message: str | None | Unset = UNSET,
    ) -> RequestRow:
        """Compare-and-set the status; raises StaleClaim when the row is not in `frm` (or,
        given a lease, when this delivery no longer holds it). The columns a transition
        may set are its keyword parameters: a column left UNSET keeps its value."""
        check(frm, to)
        stage = STAGE_FOR_STATUS.get(to)
        columns = {
            "topic_id": topic_id,
            "interest_id": interest_id,
            "generated_content_id": generated_content_id,
            "cache_hit": cache_hit,
            "error_message": error_message,
        }
        values = {c: v for c, v in columns.items() if not isinstance(v, Unset)}
        params: dict[str, Any] = {
            "id": request_id,
            "frm": str(frm),
            "to": str(to),
            "patch": json.dumps(metadata or {}),
            "drop": ["lease", *drop_metadata],
            "x_stage": str(stage) if stage else None,
            "x_keep_lease": keep_lease,
            **values,
        }
        if lease is not None:
            params.update(lease_task_id=lease.task_id, lease_try=lease.attempt)
        sql = _transition_sql(tuple(sorted(values)), to == Status.completed, lease is not None)
        row = (await self.s.execute(sql, params)).one_or_none()
        if row is None:
            raise StaleClaim(request_id, frm)
        return _request_row(row)

    async def patch(
        self,
        request_id: str,
        status: Status,
        metadata: dict[str, Any],
        *,
        cache_hit: bool | None = None,
        lease: Lease | None = None,
    ) -> bool:
        """Update a request that stays in `status` (no transition); its lease, if any, is
        released and it counts as dispatched now."""
        params: dict[str, Any] = {
            "id": request_id,
            "status": str(status),
            "patch": json.dumps({k: v for k, v in metadata.items() if v is not None}),
            "drop": ["lease", *(k for k, v in metadata.items() if v is None)],
            "cache_hit": cache_hit,
            "x_stage": str(STAGE_FOR_STATUS[status]),
        }
        sql = _PATCH
        if lease is not None:
            sql = _PATCH_LEASED
            params.update(lease_task_id=lease.task_id, lease_try=lease.attempt)
        return (await self.s.execute(sql, params)).one_or_none() is not None

    # ---- single flight ---------------------------------------------------------------

    async def lock_cache_key(self, cache_key: str) -> None:
        """Serialise every decision about one cache key until the transaction ends."""
        await self.s.execute(_LOCK_KEY, {"key": cache_key})

    async def inflight_leader(self, cache_key: str, exclude: str) -> RequestRow | None:
        """The request currently generating content for this key, if any."""
        stmt = (
            select(T)
            .where(
                T.c.metadata[M.CACHE_KEY].astext == cache_key,
                T.c.metadata[M.ROLE].astext == "leader",
                T.c.status.in_(
                    [
                        Status.generating_script,
                        Status.generating_audio,
                        Status.fast_path_ready,
                        Status.generating_video,
                    ]
                ),
                T.c.id != exclude,
                T.c.deleted_at.is_(None),
            )
            .order_by(T.c.created_at)
            .limit(1)
        )
        row = (await self.s.execute(stmt)).one_or_none()
        return _request_row(row) if row else None

    async def followers(self, leader_id: str, statuses: tuple[Status, ...]) -> list[RequestRow]:
        stmt = select(T).where(
            T.c.metadata[M.LEADER_ID].astext == leader_id,
            T.c.metadata[M.ROLE].astext == "follower",
            T.c.status.in_(statuses),
        )
        return [_request_row(r) for r in (await self.s.execute(stmt))]

    # ---- generated_content -----------------------------------------------------------

    async def content_by_key(self, cache_key: str) -> ContentRow | None:
        row = (await self.s.execute(_CONTENT_BY_KEY, {"key": cache_key})).one_or_none()
        return _content_row(row) if row else None

    async def content(self, content_id: str) -> ContentRow | None:
        row = (await self.s.execute(_CONTENT_BY_ID, {"id": content_id})).one_or_none()
        return _content_row(row) if row else None

    async def save_fast_path_content(
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
        """Insert the vivid_now row for a key, or refresh its script and audio."""
        content_id = "content_" + cache_key[:24]
        stmt = insert(GC).values(
            id=content_id,
            topic_id=topic_id,
            interest_id=interest_id,
            style=style,
            cache_key=cache_key,
            content_type="vivid_now",
            script_url=script_url,
            audio_url=audio_url,
            duration_seconds=duration_seconds,
            generation_metadata=generation_metadata,
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=[GC.cache_key],
            set_={
                "script_url": stmt.excluded.script_url,
                "audio_url": stmt.excluded.audio_url,
                "generation_metadata": GC.generation_metadata.op("||")(
                    stmt.excluded.generation_metadata
                ),
            },
        ).returning(GC.id)
        return str((await self.s.execute(upsert)).scalar_one())

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
        await self.s.execute(
            update(GC)
            .where(GC.id == content_id)
            .values(
                content_type="vivid_learning",
                video_url=video_url,
                thumbnail_url=thumbnail_url,
                duration_seconds=duration_seconds,
                file_size_bytes=file_size_bytes,
                generation_metadata=func.coalesce(GC.generation_metadata, _jsonb({})).op("||")(
                    _jsonb(generation_metadata)
                ),
            )
        )

    # ---- catalog and students --------------------------------------------------------

    async def catalog(self) -> Catalog:
        topics = (await self.s.execute(select(Topic).where(Topic.is_active.is_(True)))).scalars()
        topic_rows = list(topics)
        parents = {t.parent_id for t in topic_rows if t.parent_id}
        interests = (
            await self.s.execute(
                select(Interest)
                .where(Interest.is_active.is_(True))
                .order_by(Interest.display_order)
            )
        ).scalars()
        return Catalog(
            topics={
                t.id: TopicInfo(
                    id=t.id,
                    title=t.title,
                    description=t.description or "",
                    subject=t.subject,
                    path=t.path or "",
                    depth=t.depth,
                    grade_level_min=t.grade_level_min or 9,
                    grade_level_max=t.grade_level_max or 12,
                    keywords=tuple((t.metadata_ or {}).get("keywords", ())),
                    facts=tuple((t.metadata_ or {}).get("facts", ())),
                    is_leaf=t.id not in parents,
                )
                for t in topic_rows
            },
            interests={
                i.id: InterestInfo(
                    id=i.id,
                    name=i.name,
                    description=i.description or "",
                    category=i.category or "",
                    keywords=tuple((i.metadata_ or {}).get("keywords", ())),
                    analogies=tuple((i.metadata_ or {}).get("analogies", ())),
                )
                for i in interests
            },
        )

    async def student(self, student_id: str) -> StudentInfo | None:
        """An active student account, or None (unknown, deleted, or not a student)."""
        row = (await self.s.execute(_STUDENT, {"id": student_id})).one_or_none()
        return StudentInfo(row.id, row.grade_level, row.org_id) if row else None

    async def ranked_interests(self, student_id: str) -> list[str]:
        return list((await self.s.execute(_RANKED_INTERESTS, {"id": student_id})).scalars())

    async def exists(self, model: type[Topic] | type[Interest], key: str) -> bool:
        sql = _TOPIC_EXISTS if model is Topic else _INTEREST_EXISTS
        return bool((await self.s.execute(sql, {"id": key})).scalar())

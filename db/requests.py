"""Every statement on content_requests (and its side table request_execution): the
stage path, the watchdog, retention, failure listings and the metrics counts.

One idiom: plain SQL with `:name` parameters, built once at import and sent by asyncpg
on the pooled connection (db/driver.py). The stage path runs several of these per task:
an ORM-enabled or per-call-built statement costs up to a millisecond of Python each in
compilation and cache-key generation, and SQLAlchemy's execution path of a `text()`
twice what asyncpg's own does (measured by bench/, closing notes of issue 8); the rest
follow suit so the module reads one way.

Status changes are compare-and-set: `UPDATE … WHERE id = :id AND status = :from`; no row
back means another worker moved the request first (StaleClaim). The legal edges are
checked against pipeline.states before any statement is sent. Lease times are the
database's clock_timestamp(), never a worker's clock.
"""

from __future__ import annotations

import enum
import functools
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from db.driver import LAZY_WHEN_ALONE, Record, Sql
from pipeline import request_meta as M
from pipeline.errors import StaleClaim
from pipeline.states import STAGE_FOR_STATUS, Stage, Status, check


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

    @property
    def cancel_now(self) -> bool:
        """The caller cancelled it, and no followers wait on what it generates."""
        return M.CANCEL_REQUESTED in self.metadata and M.CANCEL_DEFERRED not in self.metadata


class Beat(enum.Enum):
    held = "held"
    lost = "lost"
    cancelled = "cancelled"


def new_id(prefix: str) -> str:
    """The seed's generate_id(prefix) format, without a round trip to the database."""
    return f"{prefix}_{secrets.token_hex(8)}"


def _request_row(r: Record) -> RequestRow:
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

    @classmethod
    def handed_over(cls, row: RequestRow) -> Claim:
        """The claim a transition that handed its lease over made (its returned row)."""
        return cls(row, deliveries=1, crashes=0, attempts=0)


# Claim: lock the request row if it is in a status the stage works on, then take the
# lease on its execution row unless another live lease holds it. An earlier lease still
# set means that claim died without completing or releasing (its worker was killed): a
# crash, unless it is this same message's earlier try that scheduled this retry.
_CLAIM = Sql(f"""
    WITH r AS (
        SELECT * FROM content_requests
        WHERE id = :id AND status = ANY(CAST(:statuses AS request_status[]))
          AND deleted_at IS NULL AND {LAZY_WHEN_ALONE}
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

# Renewing the lease also reads whether the caller cancelled the request meanwhile, so
# a long provider call is abandoned at the next beat at no extra round trip.
_HEARTBEAT = Sql(f"""
    UPDATE request_execution e
    SET lease_expires_at = clock_timestamp() + make_interval(secs => :lease),
        heartbeat_at = clock_timestamp()
    WHERE request_id = :id AND lease_task_id = :task_id AND lease_try = :try
      AND {LAZY_WHEN_ALONE}
    RETURNING (SELECT r.metadata ? '{M.CANCEL_REQUESTED}' AND NOT r.metadata ? '{M.CANCEL_DEFERRED}'
               FROM content_requests r WHERE r.id = e.request_id) AS cancel
""")

# A request in progress is marked cancelled; the delivery that holds it ends it.
_MARK_CANCEL = Sql("""
    UPDATE content_requests SET metadata = coalesce(metadata, '{}'::jsonb) || CAST(:patch AS jsonb)
    WHERE id = :id AND status = CAST(:status AS request_status)
    RETURNING id
""")

# A follower attached to this leader: the leader's own statements return the mark, so it
# looks for followers only when it has some (most leaders never do).
_MARK_FOLLOWED = Sql(f"""
    UPDATE content_requests
    SET metadata = coalesce(metadata, '{{}}'::jsonb) || '{{"{M.FOLLOWED}": true}}'::jsonb
    WHERE id = :id AND NOT coalesce(metadata ? '{M.FOLLOWED}', false)
""")

_LEASED = Sql("""
    SELECT 1 FROM request_execution
    WHERE request_id = :id AND lease_task_id IS NOT NULL AND lease_expires_at >= clock_timestamp()
""")

# A transient failure under the lease: count the attempt, let the lease go and note
# when the retry's message is due (the watchdog measures "lost" from then).
_RELEASE_FOR_RETRY = Sql("""
    WITH e AS (
        UPDATE request_execution
        SET lease_task_id = NULL, lease_try = NULL, lease_expires_at = NULL,
            attempts = attempts + CAST(:counts AS int),
            dispatched_at = clock_timestamp() + make_interval(secs => :countdown)
        WHERE request_id = :id AND lease_task_id = :task_id AND lease_try = :try
        RETURNING attempts
    ), r AS (
        UPDATE content_requests SET retry_count = coalesce(retry_count, 0) + CAST(:counts AS int)
        WHERE id = (SELECT :id FROM e)
    )
    SELECT attempts FROM e
""")

_LEASE_STATE = Sql("""
    SELECT lease_task_id = :task_id AND lease_try = :try AS ours,
           lease_task_id IS NULL OR lease_expires_at < clock_timestamp() AS free,
           attempts
    FROM request_execution WHERE request_id = :id
""")

_NOTE_DISPATCHED = Sql("""
    INSERT INTO request_execution AS e (request_id, stage, dispatched_at)
    VALUES (:id, :stage, clock_timestamp())
    ON CONFLICT (request_id) DO UPDATE SET dispatched_at = excluded.dispatched_at
""")

# Only the lease holder may complete, retry, fail or degrade a request (SPEC rule 3).
_LEASE_GUARD = """
    AND EXISTS (SELECT 1 FROM request_execution x WHERE x.request_id = :id
                AND x.lease_task_id = :lease_task_id AND x.lease_try = :lease_try)
"""
# And a request the caller cancelled moves on only to `failed` (its end as cancelled),
# unless its cancellation waits for the followers of the generation it leads.
_CANCEL_GUARD = f"""
    AND (NOT metadata ? '{M.CANCEL_REQUESTED}' OR metadata ? '{M.CANCEL_DEFERRED}')
"""
# Or, for a leader's own end, refused even when its cancellation was deferred: it then
# ends cancelled instead, which the caller learns from the refusal at no extra read.
_CANCELLED_GUARD = f"""
    AND NOT metadata ? '{M.CANCEL_REQUESTED}'
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


# Or, when the worker that completes a stage runs the next one itself (workers/routing.py,
# runs_here), the lease passes to that stage in the same statement: the row is claimed for
# it as a claim would (its lease renewed, one delivery, no crash or attempt yet), and the
# next stage starts without a claim's round trip (Claim.handed_over). Only a leased
# transition hands over, so the execution row exists and its lease is this delivery's.
_EXECUTION_HAND_OVER = """
    , x AS (
        UPDATE request_execution e
        SET stage = CAST(:x_stage AS varchar),
            lease_expires_at = clock_timestamp() + make_interval(secs => :x_lease),
            heartbeat_at = clock_timestamp(),
            claimed_at = clock_timestamp(),
            dispatched_at = clock_timestamp(),
            deliveries = 1, crashes = 0, attempts = 0
        FROM t WHERE e.request_id = t.id
    )
"""


def _patch_sql(guard: str) -> Sql:
    """UPDATE of a request that stays in its status (metadata, cache_hit); its lease is
    released and it counts as dispatched now."""
    return Sql(f"""
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
_PATCH_LEASED = _patch_sql(_LEASE_GUARD + _CANCEL_GUARD)


_LOAD = Sql("SELECT * FROM content_requests WHERE id = :id AND deleted_at IS NULL")
_LOAD_FOR_UPDATE = Sql(
    "SELECT * FROM content_requests WHERE id = :id AND deleted_at IS NULL FOR UPDATE"
)
_CREATE = Sql("""
    INSERT INTO content_requests
        (id, student_id, original_query, topic_id, interest_id, style, status, metadata)
    VALUES (:id, :student_id, :query, :topic_id, :interest_id, :style,
            CAST(:status AS request_status), CAST(:metadata AS jsonb))
""")
# A new request from a student, in one statement: the student must be an active student
# and a named interest must exist, or no row is written (the caller says which).
_SUBMIT = Sql("""
    INSERT INTO content_requests
        (id, student_id, original_query, interest_id, style, status, metadata, idempotency_key)
    SELECT :id, u.id, :query, CAST(:interest_id AS text), :style, CAST(:status AS request_status),
           jsonb_build_object(CAST(:grade_key AS text), u.grade_level,
                              CAST(:history_key AS text),
                              jsonb_build_array(CAST(:status AS text))),
           CAST(:key AS text)
    FROM users u
    WHERE u.id = :student_id AND u.role = 'student' AND u.deleted_at IS NULL
      AND (CAST(:interest_id AS text) IS NULL
           OR EXISTS (SELECT 1 FROM interests WHERE id = CAST(:interest_id AS text)))
    ON CONFLICT (student_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
""")
_BY_IDEMPOTENCY_KEY = Sql(
    "SELECT id FROM content_requests WHERE student_id = :student_id AND idempotency_key = :key"
)
# Both WHEREs are the predicates of their indexes (migration 008): change them together.
_INFLIGHT_LEADER = Sql("""
    SELECT * FROM content_requests
    WHERE metadata->>'cache_key' = :key AND metadata->>'role' = 'leader'
      AND status IN ('generating_script', 'generating_audio', 'fast_path_ready',
                     'generating_video')
      AND id <> :exclude AND deleted_at IS NULL
    ORDER BY created_at LIMIT 1
""")
_FOLLOWERS = Sql("""
    SELECT * FROM content_requests
    WHERE metadata->>'leader_id' = :leader AND metadata->>'role' = 'follower'
      AND status = ANY(CAST(:statuses AS request_status[]))
""")
_STATUS_OF = Sql("SELECT status::text FROM content_requests WHERE id = :id")
_SERVED = Sql("""
    SELECT id, original_query, topic_id, interest_id, style FROM content_requests
    WHERE student_id = :student AND generated_content_id = :content AND deleted_at IS NULL
    ORDER BY created_at DESC, id DESC LIMIT 1
""")
COUNTS_BY_STATUS = (
    "SELECT status::text, count(*) FROM content_requests WHERE deleted_at IS NULL GROUP BY status"
)

_UNATTENDED = Sql("""
    SELECT r.id, (e.lease_task_id IS NOT NULL
                  AND e.lease_expires_at < clock_timestamp()
                  AND (e.dispatched_at IS NULL
                       OR e.dispatched_at < e.lease_expires_at)) AS dead_lease,
           extract(epoch FROM greatest(coalesce(e.dispatched_at, r.updated_at),
                                       e.claimed_at)) AS since
    FROM content_requests r
    LEFT JOIN request_execution e ON e.request_id = r.id
    WHERE r.status = CAST(:status AS request_status)
      AND r.deleted_at IS NULL
      AND (e.lease_task_id IS NULL OR e.lease_expires_at < clock_timestamp())
      AND (
          (e.lease_task_id IS NOT NULL
           AND (e.dispatched_at IS NULL OR e.dispatched_at < e.lease_expires_at))
          OR greatest(coalesce(e.dispatched_at, r.updated_at), e.claimed_at)
             < clock_timestamp() - make_interval(secs => :lost_after)
      )
      AND NOT (
          r.metadata ? 'review_wait' AND EXISTS (
              SELECT 1 FROM generated_content g
              WHERE g.id = r.metadata->>'review_wait' AND g.manual_review_status = 'flagged'
          )
      )
      AND NOT (
          r.metadata->>'role' = 'follower' AND EXISTS (
              SELECT 1 FROM content_requests l
              WHERE l.id = r.metadata->>'leader_id'
                AND l.status IN ('generating_script', 'generating_audio',
                                 'fast_path_ready', 'generating_video')
          )
      )
    ORDER BY coalesce(e.dispatched_at, r.updated_at)
    LIMIT :limit
    FOR UPDATE OF r SKIP LOCKED
""")
_WAITING_FOR_REVIEW = Sql(f"""
    SELECT id FROM content_requests
    WHERE status = 'cache_check' AND deleted_at IS NULL AND metadata->>'{M.REVIEW_WAIT}' = :id
""")
_EXPIRED_CLARIFICATIONS = Sql("""
    SELECT id FROM content_requests
    WHERE status = 'needs_clarification' AND deleted_at IS NULL
      AND updated_at < now() - make_interval(secs => :age)
    ORDER BY updated_at LIMIT :limit FOR UPDATE SKIP LOCKED
""")
# Completed/failed, not yet soft-deleted, created before cutoff (the 002 index).
# Archived without the student's words (the query, a clarification answer): the archive
# outlives the scrub below, and analytics needs the topic, not the question.
_FINISHED_BEFORE = Sql("""
    SELECT id, student_id, topic_id, interest_id, style, status, cache_hit,
           generated_content_id, error_message, retry_count, completed_at,
           metadata #- '{clarification,answer}' AS metadata, created_at, updated_at
    FROM content_requests
    WHERE deleted_at IS NULL AND status IN ('completed', 'failed') AND created_at < :cutoff
    ORDER BY created_at, id LIMIT :limit FOR UPDATE SKIP LOCKED
""")
_SOFT_DELETE = Sql(
    "UPDATE content_requests SET deleted_at = now() WHERE id = ANY(:ids) AND deleted_at IS NULL"
)
# Soft-deleted rows keep no student text after the grace period: the query and any
# clarification answer are blanked (original_query is NOT NULL), the retry key goes.
_SCRUB = Sql("""
    UPDATE content_requests
    SET original_query = '', idempotency_key = NULL,
        metadata = (COALESCE(metadata, '{}'::jsonb) #- '{clarification,answer}')
                   || jsonb_build_object('scrubbed_at', now())
    WHERE id IN (
        SELECT id FROM content_requests
        WHERE deleted_at < :cutoff AND NOT (metadata ? 'scrubbed_at')
        ORDER BY deleted_at LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING id
""")
_FAILED = Sql("""
    SELECT id, metadata->>'failed_stage' AS stage, metadata->>'error_kind' AS kind,
           error_message, retry_count, updated_at
    FROM content_requests
    WHERE status = 'failed' AND deleted_at IS NULL
      AND (CAST(:stage AS text) IS NULL OR metadata->>'failed_stage' = :stage)
      AND (CAST(:since AS timestamptz) IS NULL OR updated_at >= :since)
    ORDER BY updated_at DESC LIMIT :limit
""")


@functools.lru_cache(maxsize=64)
def _transition_sql(
    columns: tuple[str, ...], completes: bool, leased: bool, guard: str, hands_over: bool
) -> Sql:
    """UPDATE … SET status = :to … WHERE id = :id AND status = :frm RETURNING *, with the
    metadata patch merged, keys dropped and the new status appended to metadata.history;
    the execution row starts over for the new stage in the same statement (or is claimed
    for it under the same lease: `hands_over`)."""
    sets = [f"{c} = :{c}" for c in columns]
    if completes and "completed_at" not in columns:
        sets.append("completed_at = now()")
    extra = "".join(f", {x}" for x in sets)
    guard = (_LEASE_GUARD if leased else "") + guard
    return Sql(f"""
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
        ) {_EXECUTION_HAND_OVER if hands_over else _EXECUTION_RESET}
        SELECT * FROM t
    """)


@dataclass(frozen=True)
class SourceRequest:
    id: str
    original_query: str
    topic_id: str | None
    interest_id: str | None
    style: str | None


class RequestStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.s = conn

    # ---- the stage path --------------------------------------------------------------

    async def load(self, request_id: str, *, for_update: bool = False) -> RequestRow | None:
        sql = _LOAD_FOR_UPDATE if for_update else _LOAD
        row = await sql.row(self.s, {"id": request_id})
        return _request_row(row) if row else None

    async def submit(
        self,
        *,
        student_id: str,
        original_query: str,
        style: str,
        interest_id: str | None,
        idempotency_key: str | None = None,
    ) -> str | None:
        """A new request in nlu_processing, with the student's grade in its metadata; None
        when the student is not an active student or the interest does not exist, or when
        this student already submitted with this idempotency key (see `by_idempotency_key`)."""
        params = {
            "key": idempotency_key,
            "id": new_id("req"),
            "student_id": student_id,
            "query": original_query,
            "interest_id": interest_id,
            "style": style,
            "status": str(Status.nlu_processing),
            "grade_key": M.GRADE_LEVEL,
            "history_key": M.HISTORY,
        }
        created: str | None = await _SUBMIT.value(self.s, params)
        return created

    async def by_idempotency_key(self, student_id: str, key: str) -> str | None:
        params = {"student_id": student_id, "key": key}
        found: str | None = await _BY_IDEMPOTENCY_KEY.value(self.s, params)
        return found

    async def create(
        self,
        *,
        student_id: str,
        original_query: str,
        status: Status,
        metadata: dict[str, Any],
        style: str,
        topic_id: str | None = None,
        interest_id: str | None = None,
    ) -> str:
        request_id = new_id("req")
        params = {
            "id": request_id,
            "student_id": student_id,
            "query": original_query,
            "topic_id": topic_id,
            "interest_id": interest_id,
            "style": style,
            "status": str(status),
            "metadata": json.dumps(metadata),
        }
        await _CREATE.run(self.s, params)
        return request_id

    async def claim(
        self, request_id: str, statuses: tuple[Status, ...], lease: Lease, lease_seconds: float
    ) -> Claim | None:
        """Take the work lease on a request in one of `statuses`, unless another live
        lease holds it. None means: wrong status, or someone else is working on it."""
        row = await _CLAIM.row(
            self.s,
            {
                "id": request_id,
                "statuses": [str(x) for x in statuses],
                "stage": str(STAGE_FOR_STATUS[statuses[0]]),
                "task_id": lease.task_id,
                "try": lease.attempt,
                "lease": lease_seconds,
            },
        )
        if row is None:
            return None
        return Claim(_request_row(row), row["x_deliveries"], row["x_crashes"], row["x_attempts"])

    async def heartbeat(self, request_id: str, lease: Lease, lease_seconds: float) -> Beat:
        """Renew the lease: still held, lost (another worker took it), or held by a
        request the caller has cancelled."""
        params = {"id": request_id, "task_id": lease.task_id, "try": lease.attempt}
        found = await _HEARTBEAT.row(self.s, {**params, "lease": lease_seconds})
        if found is None:
            return Beat.lost
        return Beat.cancelled if found["cancel"] else Beat.held

    async def mark_cancel(self, request_id: str, status: Status, *, deferred: bool) -> bool:
        """Ask the delivery working on the request to end it as cancelled (deferred: once
        the followers of the generation it leads have their content)."""
        patch: dict[str, Any] = {M.CANCEL_REQUESTED: datetime.now(UTC).isoformat()}
        if deferred:
            patch[M.CANCEL_DEFERRED] = True
        params = {"id": request_id, "status": str(status), "patch": json.dumps(patch)}
        return await _MARK_CANCEL.row(self.s, params) is not None

    async def mark_followed(self, leader_id: str) -> None:
        """Note on a leader that a follower waits on it (metadata.followed)."""
        await _MARK_FOLLOWED.run(self.s, {"id": leader_id})

    async def leased(self, request_id: str) -> bool:
        """Whether a live lease holds the request (a worker is on it right now)."""
        return await _LEASED.row(self.s, {"id": request_id}) is not None

    async def release_for_retry(
        self, request_id: str, lease: Lease, countdown_seconds: float, *, counts: bool = True
    ) -> int | None:
        """Count a failed attempt (unless `counts` is False: a wait for the provider) and
        let the lease go; the attempts of the current stage so far, or None when this
        delivery does not hold the lease."""
        params = {"id": request_id, "task_id": lease.task_id, "try": lease.attempt}
        params |= {"countdown": countdown_seconds, "counts": counts}
        found: int | None = await _RELEASE_FOR_RETRY.value(self.s, params)
        return found

    async def lease_state(self, request_id: str, lease: Lease) -> tuple[bool, bool, int]:
        """(held by this delivery, held by nobody live, attempts of the current stage)."""
        params = {"id": request_id, "task_id": lease.task_id, "try": lease.attempt}
        row = await _LEASE_STATE.row(self.s, params)
        if row is None:
            return False, True, 0
        return bool(row["ours"]), bool(row["free"]), int(row["attempts"])

    async def note_dispatched(self, request_id: str, stage: Stage) -> None:
        """A task for this request is about to be sent again (the watchdog)."""
        await _NOTE_DISPATCHED.run(self.s, {"id": request_id, "stage": str(stage)})

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
        hand_over_seconds: float | None = None,
        unless_cancelled: bool = False,
        topic_id: str | Unset = UNSET,
        interest_id: str | Unset = UNSET,
        generated_content_id: str | None | Unset = UNSET,
        cache_hit: bool | Unset = UNSET,
        error_message: str | None | Unset = UNSET,
    ) -> RequestRow:
        """Compare-and-set the status; raises StaleClaim when the row is not in `frm` (or,
        given a lease, when this delivery no longer holds it). The columns a transition
        may set are its keyword parameters: a column left UNSET keeps its value.
        `unless_cancelled` also refuses a request whose cancellation was deferred.
        `hand_over_seconds` (with a lease): the lease passes to the new status's stage for
        that long, and the row is claimed for it (see _EXECUTION_HAND_OVER)."""
        check(frm, to)
        stage = STAGE_FOR_STATUS.get(to)
        hands_over = hand_over_seconds is not None
        if hands_over and (lease is None or stage is None):
            raise ValueError("only a leased transition to a stage's status hands its lease over")
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
        if hands_over:
            params["x_lease"] = hand_over_seconds
        leased = lease is not None
        guard = ""
        if unless_cancelled:
            guard = _CANCELLED_GUARD
        elif leased and to != Status.failed:
            guard = _CANCEL_GUARD
        sql = _transition_sql(
            tuple(sorted(values)), to == Status.completed, leased, guard, hands_over
        )
        row = await sql.row(self.s, params)
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
        return await sql.row(self.s, params) is not None

    # ---- single flight ---------------------------------------------------------------

    async def inflight_leader(self, cache_key: str, exclude: str) -> RequestRow | None:
        """The request currently generating content for this key, if any."""
        params = {"key": cache_key, "exclude": exclude}
        row = await _INFLIGHT_LEADER.row(self.s, params)
        return _request_row(row) if row else None

    async def waiting_for_review(self, content_id: str) -> list[str]:
        """The requests in cache_check waiting on this flagged content's review."""
        rows = await _WAITING_FOR_REVIEW.rows(self.s, {"id": content_id})
        return [r[0] for r in rows]

    async def followers(self, leader_id: str, statuses: tuple[Status, ...]) -> list[RequestRow]:
        params = {"leader": leader_id, "statuses": [str(s) for s in statuses]}
        return [_request_row(r) for r in await _FOLLOWERS.rows(self.s, params)]

    # ---- the watchdog, expiry and retention (bounded batches, SKIP LOCKED) -----------

    async def unattended(
        self, status: str, lost_after_seconds: float, limit: int
    ) -> list[dict[str, Any]]:
        """Requests in `status` that nobody is working on and whose task may be lost:

        - `dead_lease`: a claim whose lease ran out without completing or being released
          (its worker died or froze) and that was not dispatched again since;
        - otherwise: no live lease, and the last dispatch and the last claim are both older
          than `lost_after_seconds` (`since` is the later of the two, for the queue check).

        Followers whose leader is still working are waiting, not lost. Rows are locked
        (SKIP LOCKED) so two sweeps never pick the same request."""
        params = {"status": status, "lost_after": lost_after_seconds, "limit": limit}
        return [dict(r) for r in await _UNATTENDED.rows(self.s, params)]

    async def expired_clarifications(self, older_than_seconds: float, limit: int) -> list[str]:
        params = {"age": older_than_seconds, "limit": limit}
        return [r[0] for r in await _EXPIRED_CLARIFICATIONS.rows(self.s, params)]

    async def finished_before(self, cutoff: datetime, limit: int) -> list[dict[str, Any]]:
        params = {"cutoff": cutoff, "limit": limit}
        return [dict(r) for r in await _FINISHED_BEFORE.rows(self.s, params)]

    async def soft_delete(self, ids: list[str]) -> int:
        return await _SOFT_DELETE.run(self.s, {"ids": ids})

    async def scrub_deleted_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Blank the student text of up to `limit` requests soft-deleted before cutoff."""
        params = {"cutoff": cutoff, "limit": limit}
        return [r[0] for r in await _SCRUB.rows(self.s, params)]

    # ---- for ops, regeneration and metrics -------------------------------------------

    async def failed(
        self, stage: str | None, since: datetime | None, limit: int
    ) -> list[dict[str, Any]]:
        """Failed requests, newest first: ids, stage, error kind and message (no query text)."""
        params = {"stage": stage, "since": since, "limit": limit}
        return [dict(r) for r in await _FAILED.rows(self.s, params)]

    async def served(self, student_id: str, content_id: str) -> SourceRequest | None:
        """The student's most recent request that was served this content."""
        params = {"student": student_id, "content": content_id}
        row = await _SERVED.row(self.s, params)
        return SourceRequest(*row) if row else None

    async def status_of(self, request_id: str) -> str | None:
        status: str | None = await _STATUS_OF.value(self.s, {"id": request_id})
        return status

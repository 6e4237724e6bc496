"""The one place a stage runs: claim (transaction) -> work (none open) -> complete
(transaction: outputs + transition) -> return the next tasks to send after the commit.

Stages describe only their own work (pipeline/stages/); everything about leases,
stale deliveries, failure records and single-flight followers lives here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import structlog

from db.repository import Repository, RequestRow
from pipeline.context import Context
from pipeline.errors import PermanentStageError, StageError, StaleClaim
from pipeline.states import Stage, Status

log = structlog.get_logger("vividly.pipeline")

W = TypeVar("W")


@dataclass(frozen=True)
class Dispatch:
    """A task to send once the transaction that decided it has committed."""

    stage: Stage
    request_id: str


class StageRun(list[Dispatch]):
    """What one delivery of a stage's task did: the tasks to send (it is that list), how
    it ended ("ok", "skipped" or "stale") and the metadata the stage wrote on completion
    (e.g. cache_check's decision in notes["cache"]), for metrics without another query."""

    def __init__(
        self,
        dispatches: list[Dispatch] | None = None,
        outcome: str = "ok",
        notes: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(dispatches or [])
        self.outcome = outcome
        self.notes = notes or {}


class _NotingRepository(Repository):
    """The repository a stage completes with: remembers the metadata written to the
    request being completed (the statements run unchanged)."""

    def __init__(self, session: Any, request_id: str) -> None:
        super().__init__(session)
        self.request_id = request_id
        self.notes: dict[str, Any] = {}

    async def transition(self, request_id: str, frm: Status, to: Status, **kw: Any) -> RequestRow:
        row = await super().transition(request_id, frm, to, **kw)
        if request_id == self.request_id:
            self.notes.update(kw.get("metadata") or {})
        return row

    async def patch(
        self, request_id: str, status: Status, metadata: dict[str, Any], **values: Any
    ) -> bool:
        done = await super().patch(request_id, status, metadata, **values)
        if done and request_id == self.request_id:
            self.notes.update(metadata)
        return done


class StageSpec(Protocol, Generic[W]):
    stage: Stage
    claims: tuple[Status, ...]  # statuses in which this stage's task has work to do
    lease_seconds: float  # the stage's hard time limit: a lease outlives no attempt

    async def start(self, repo: Repository, row: RequestRow) -> RequestRow | None:
        """Inside the claim transaction; None means: nothing to do for this row."""
        ...

    async def work(self, ctx: Context, row: RequestRow) -> W: ...

    async def complete(
        self, repo: Repository, ctx: Context, row: RequestRow, result: W
    ) -> list[Dispatch]: ...

    async def fail(
        self, repo: Repository, ctx: Context, row: RequestRow, error: StageError, kind: str
    ) -> list[Dispatch]: ...


class BaseStage(Generic[W]):
    """Defaults shared by the stages: no special start, fail = record the failure."""

    stage: Stage
    claims: tuple[Status, ...]
    lease_seconds: float

    async def start(self, repo: Repository, row: RequestRow) -> RequestRow | None:
        return row

    async def fail(
        self, repo: Repository, ctx: Context, row: RequestRow, error: StageError, kind: str
    ) -> list[Dispatch]:
        return await record_failure(repo, row, self.stage, error, kind)


async def record_failure(
    repo: Repository, row: RequestRow, stage: Stage, error: StageError, kind: str
) -> list[Dispatch]:
    await repo.transition(
        row.id,
        row.status,
        Status.failed,
        error_message=error.message,
        metadata={"failed_stage": str(stage), "error_kind": kind, "failed_at": time.time()},
    )
    return await release_followers(repo, row)


async def release_followers(repo: Repository, row: RequestRow) -> list[Dispatch]:
    """The leader of a single-flight generation failed: its followers run their cache
    check again, and the first to get there leads a new generation."""
    if row.metadata.get("role") != "leader":
        return []
    out = []
    for f in await repo.followers(row.id, (Status.cache_check,)):
        await repo.patch(f.id, Status.cache_check, {"role": None, "leader_id": None})
        out.append(Dispatch(Stage.cache_check, f.id))
    if out:
        log.info("followers released", request_id=row.id, followers=len(out))
    return out


async def run_stage(
    spec: StageSpec[Any], ctx: Context, request_id: str, token: str, attempt: int = 1
) -> StageRun:
    started = time.perf_counter()
    bound = log.bind(request_id=request_id, stage=str(spec.stage), attempt=attempt)
    async with ctx.uow() as s:
        repo = Repository(s)
        row = await repo.claim(request_id, spec.claims, token, spec.lease_seconds)
        if row is None:
            current = await repo.load(request_id)
            bound.info(
                "stage skipped",
                outcome="skipped",
                status=str(current.status) if current else None,
                reason="not found"
                if current is None
                else "not in a status this stage works on or leased by another worker",
            )
            return StageRun(outcome="skipped")
        row = await spec.start(repo, row)
        if row is None:
            bound.info("stage skipped", outcome="skipped", reason="nothing to do")
            return StageRun(outcome="skipped")
    result = await spec.work(ctx, row)
    try:
        async with ctx.uow() as s:
            noting = _NotingRepository(s, request_id)
            dispatches = await spec.complete(noting, ctx, row, result)
    except StaleClaim as e:
        bound.info("stage result dropped", outcome="stale", reason=str(e))
        return StageRun(outcome="stale")
    bound.info(
        "stage completed",
        outcome="ok",
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        next=[str(d.stage) for d in dispatches],
    )
    return StageRun(dispatches, "ok", noting.notes)


async def fail_stage(
    spec: StageSpec[Any], ctx: Context, request_id: str, error: StageError, kind: str
) -> list[Dispatch]:
    """Record a permanent failure (or exhausted retries) on the row, if it is still ours."""
    async with ctx.uow() as s:
        repo = Repository(s)
        row = await repo.load(request_id, for_update=True)
        if row is None or row.status not in spec.claims:
            log.info(
                "failure not recorded: request moved on",
                request_id=request_id,
                stage=str(spec.stage),
                status=str(row.status) if row else None,
            )
            return []
        dispatches = await spec.fail(repo, ctx, row, error, kind)
    log.warning(
        "stage failed",
        request_id=request_id,
        stage=str(spec.stage),
        outcome="failed",
        error_kind=kind,
        error=error.message,
    )
    return dispatches


async def note_retry(ctx: Context, request_id: str, token: str) -> None:
    async with ctx.uow() as s:
        repo = Repository(s)
        await repo.add_retry(request_id)
        await repo.release(request_id, token)


def as_stage_error(exc: BaseException) -> StageError:
    if isinstance(exc, StageError):
        return exc
    # Unknown exceptions are bugs or unclassified provider errors: name the type only,
    # since an exception's text may carry input.
    return PermanentStageError(f"internal error in the pipeline ({type(exc).__name__})")

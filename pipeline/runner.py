"""The one place a stage runs: claim (transaction) -> work under a heartbeated lease (no
transaction open) -> complete (transaction: outputs + transition, guarded by the lease)
-> return the next tasks to send after the commit.

Stages describe only their own work (pipeline/stages/); leases, crash counting, stale
deliveries and failure records live here, single-flight outcomes in single_flight.py.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

import structlog

from db.repository import Repository
from db.requests import Beat, Claim, Lease, RequestRow, RequestStore
from pipeline import single_flight
from pipeline.context import Context
from pipeline.dispatch import Dispatch
from pipeline.errors import (
    Cancelled,
    CancelRequested,
    LeaseLost,
    PermanentStageError,
    ProviderDeferred,
    StageError,
    StaleClaim,
    TransientStageError,
)
from pipeline.retry import RetryPolicy
from pipeline.states import STAGE_FOR_STATUS, Stage, Status

__all__ = ["Dispatch", "HandOver", "StageRun", "run_stage", "fail_stage", "retry_or_fail"]

log = structlog.get_logger("vividly.pipeline")

W = TypeVar("W")

# Whether the worker running a stage would run this next stage of the request itself, in
# the same delivery (workers/routing.py, runs_here): then the completing transition hands
# the lease to it, and that stage starts without a claim of its own.
HandOver = Callable[[Stage], bool]

POISON_MESSAGE = (
    "The {stage} stage crashed its worker {crashes} times on this request, so it was "
    "stopped; retry it once the cause (a crash in a codec, memory) is fixed."
)


class StageRun(list[Dispatch]):
    """What one delivery of a stage's task did: the tasks to send (it is that list), how
    it ended ("ok", "skipped", "stale" or "failed"), the attempt it was, the metadata
    the stage wrote on completion (e.g. cache_check's decision in notes["cache"]), for a
    skipped one the status the request was found in (None: not found), and the claim of
    the next stage when the completion handed the lease over to it (`handed`): the caller
    must then run that stage (run_stage's `claimed`), as nobody else can while it holds
    the lease, and not send its task."""

    def __init__(
        self,
        dispatches: list[Dispatch] | None = None,
        outcome: str = "ok",
        notes: dict[str, Any] | None = None,
        attempt: int = 1,
        error_kind: str = "none",
        found: Status | None = None,
        handed: Claim | None = None,
    ) -> None:
        super().__init__(dispatches or [])
        self.outcome = outcome
        self.notes = notes or {}
        self.attempt = attempt
        self.error_kind = error_kind
        self.found = found
        self.handed = handed


class LeasedRequests(RequestStore):
    """The request statements of a delivery: every change to the request it works on is
    guarded by its lease (only the holder may move the request), and the metadata written
    to that request is remembered for metrics. With `hand_over`, a transition of that
    request to a stage the predicate accepts hands the lease over to it (`handed`)."""

    def __init__(
        self,
        session: Any,
        request_id: str,
        lease: Lease,
        hand_over: HandOver | None = None,
        lease_seconds: float = 0.0,
    ) -> None:
        super().__init__(session)
        self.request_id = request_id
        self.lease = lease
        self.notes: dict[str, Any] = {}
        self.hand_over = hand_over
        self.lease_seconds = lease_seconds
        self.handed: Claim | None = None

    async def transition(self, request_id: str, frm: Status, to: Status, **kw: Any) -> RequestRow:
        own = request_id == self.request_id
        if own:
            kw.setdefault("lease", self.lease)
            stage = STAGE_FOR_STATUS.get(to)
            if (
                self.hand_over is not None
                and stage is not None
                and not kw.get("keep_lease")
                and self.hand_over(stage)
            ):
                kw["hand_over_seconds"] = self.lease_seconds
        row = await super().transition(request_id, frm, to, **kw)
        if own:
            self.notes.update(kw.get("metadata") or {})
            self.handed = Claim.handed_over(row) if "hand_over_seconds" in kw else None
        return row

    async def patch(
        self, request_id: str, status: Status, metadata: dict[str, Any], **kw: Any
    ) -> bool:
        if request_id == self.request_id:
            kw.setdefault("lease", self.lease)
        done = await super().patch(request_id, status, metadata, **kw)
        if request_id == self.request_id:
            if not done:  # the lease was lost, or the caller cancelled the request
                raise StaleClaim(request_id, status)
            self.notes.update(metadata)
        return done


class LeasedRepository(Repository):
    """The stores of a delivery's unit of work, its request statements under its lease."""

    requests: LeasedRequests

    def __init__(self, session: Any, request_id: str, lease: Lease) -> None:
        super().__init__(session, LeasedRequests(session, request_id, lease))


class StageSpec(Protocol, Generic[W]):
    @property
    def stage(self) -> Stage: ...

    @property
    def claims(self) -> tuple[Status, ...]:
        """The statuses in which this stage's task has work to do."""
        ...

    @property
    def completes_in_one_statement(self) -> bool: ...

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
    """Defaults shared by the stages: no special start; fail = the request fails (and its
    single-flight followers with it, or one of them leads again)."""

    stage: Stage
    claims: tuple[Status, ...]
    # A stage whose completion writes one row in one statement sets this: the statement
    # is atomic alone, so it runs without a transaction's BEGIN/COMMIT round trips.
    completes_in_one_statement = False

    async def start(self, repo: Repository, row: RequestRow) -> RequestRow | None:
        return row

    async def fail(
        self, repo: Repository, ctx: Context, row: RequestRow, error: StageError, kind: str
    ) -> list[Dispatch]:
        return await single_flight.failed(repo, row, self.stage, error, kind)


async def run_stage(
    spec: StageSpec[Any],
    ctx: Context,
    request_id: str,
    lease: Lease,
    *,
    hand_over: HandOver | None = None,
    claimed: Claim | None = None,
) -> StageRun:
    """Run one stage of a request under `lease`: claimed here, or `claimed` already by the
    stage before it, which handed its lease over (StageRun.handed)."""
    started = time.perf_counter()
    settings = ctx.settings
    bound = log.bind(request_id=request_id, stage=str(spec.stage))
    # The claim is one statement (and a stage's start, one compare-and-set under the
    # lease): no transaction needed around them.
    async with ctx.statements() as s:
        repo = LeasedRepository(s, request_id, lease)
        claim = claimed or await repo.requests.claim(
            request_id, spec.claims, lease, settings.lease_seconds
        )
        if claim is None:
            current = await repo.requests.load(request_id)
            bound.info(
                "stage skipped",
                outcome="skipped",
                status=str(current.status) if current else None,
                reason="not found"
                if current is None
                else "not in a status this stage works on, or leased by another worker",
            )
            return StageRun(outcome="skipped", found=current.status if current else None)
        attempt = claim.attempts + 1
        bound = bound.bind(attempt=attempt, delivery=claim.deliveries)
        if claim.row.cancel_now:
            return await finish_cancelled(spec, ctx, request_id, lease, attempt)
        poisoned = claim.crashes >= settings.poison_max_crashes
        try:
            row = None if poisoned else await spec.start(repo, claim.row)
        except StaleClaim:  # cancelled since the claim
            return await finish_cancelled(spec, ctx, request_id, lease, attempt)
    if poisoned:
        error = PermanentStageError(POISON_MESSAGE.format(stage=spec.stage, crashes=claim.crashes))
        async with ctx.uow() as s:
            repo = LeasedRepository(s, request_id, lease)
            dispatches = await spec.fail(repo, ctx, claim.row, error, "poison")
        bound.error("stage failed", outcome="failed", error_kind="poison", crashes=claim.crashes)
        return StageRun(dispatches, "failed", attempt=attempt, error_kind="poison")
    if row is None:
        try:
            async with ctx.statements() as s:
                await LeasedRepository(s, request_id, lease).requests.patch(
                    request_id, claim.row.status, {}
                )
        except StaleClaim:
            return await finish_cancelled(spec, ctx, request_id, lease, attempt)
        bound.info("stage skipped", outcome="skipped", reason="nothing to do")
        return StageRun(outcome="skipped", attempt=attempt)
    try:
        result = await hold_lease(ctx, request_id, lease, spec.work(ctx, row))
    except CancelRequested:
        return await finish_cancelled(spec, ctx, request_id, lease, attempt)
    try:
        async with ctx.statements() if spec.completes_in_one_statement else ctx.uow() as s:
            leased = LeasedRequests(s, request_id, lease, hand_over, settings.lease_seconds)
            dispatches = await spec.complete(Repository(s, leased), ctx, row, result)
    except StaleClaim as e:
        # The completion's compare-and-set refuses a request the caller cancelled.
        cancelled = await finish_cancelled(spec, ctx, request_id, lease, attempt)
        if cancelled.outcome == "cancelled":
            return cancelled
        bound.info("stage result dropped", outcome="stale", reason=str(e))
        return StageRun(outcome="stale", attempt=attempt)
    bound.info(
        "stage completed",
        outcome="ok",
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        next=[str(d.stage) for d in dispatches],
    )
    return StageRun(dispatches, "ok", leased.notes, attempt=attempt, handed=leased.handed)


async def hold_lease(ctx: Context, request_id: str, lease: Lease, work: Awaitable[W]) -> W:
    """Await the stage's work while renewing its lease every lease_seconds / 3. If the
    lease was taken over (this worker was presumed dead), the work is cancelled and
    LeaseLost raised: another worker now owns the request.

    The work runs in the caller's task and the renewal is a timer until it is due, so a
    stage that finishes within a beat (most do) pays for one timer handle, no task."""
    loop = asyncio.get_running_loop()
    worker = asyncio.current_task()
    interval = ctx.settings.lease_seconds / 3
    beat: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    ended: Beat | None = None  # why the work was stopped: lease lost, or cancelled

    def due() -> None:
        nonlocal beat
        beat = loop.create_task(renew())

    async def renew() -> None:
        nonlocal timer, ended
        try:
            state = await _renew(ctx, request_id, lease)
        except Exception as e:  # never let a failed renewal go unnoticed or stop the beat
            log.warning("lease not renewed", request_id=request_id, error_type=type(e).__name__)
            state = Beat.held
        if state is Beat.held:
            timer = loop.call_later(interval, due)
        elif worker is not None:
            ended = state
            worker.cancel()

    timer = loop.call_later(interval, due)
    try:
        return await work
    except asyncio.CancelledError:
        if ended is not None and worker is not None:
            worker.uncancel()
            if ended is Beat.cancelled:
                raise CancelRequested(request_id) from None
            raise LeaseLost(request_id) from None
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if beat is not None and not beat.done():
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)


async def _renew(ctx: Context, request_id: str, lease: Lease) -> Beat:
    """Whether the lease is still ours, and the request not cancelled. If the database is
    away, the work goes on: should the lease run out meanwhile, the lease guard on
    completion decides who wins."""
    async with ctx.statements() as s:
        return await RequestStore(s).heartbeat(request_id, lease, ctx.settings.lease_seconds)


async def finish_cancelled(
    spec: StageSpec[Any], ctx: Context, request_id: str, lease: Lease, attempt: int
) -> StageRun:
    """End a request the caller cancelled, if this delivery holds it: `failed`,
    "Cancelled.", metadata.cancelled; a follower of a generation it led leads again."""
    async with ctx.uow() as s:
        repo = LeasedRepository(s, request_id, lease)
        ours, _, _ = await repo.requests.lease_state(request_id, lease)
        row = await repo.requests.load(request_id, for_update=True) if ours else None
        if row is None or not row.cancel_now or row.status not in spec.claims:
            return StageRun(outcome="stale", attempt=attempt)
        stage = STAGE_FOR_STATUS.get(row.status, spec.stage)
        dispatches = await single_flight.failed(repo, row, stage, Cancelled(), "cancelled")
    log.info("request cancelled", request_id=request_id, stage=str(stage), outcome="cancelled")
    return StageRun(dispatches, "cancelled", attempt=attempt, error_kind="cancelled")


async def fail_stage(
    spec: StageSpec[Any],
    ctx: Context,
    request_id: str,
    lease: Lease,
    error: StageError,
    kind: str,
) -> list[Dispatch]:
    """Record a permanent failure on the row, if it is still this stage's and no other
    delivery holds it (a duplicate never fails a request another worker is working on)."""
    async with ctx.uow() as s:
        repo = LeasedRepository(s, request_id, lease)
        ours, free, _ = await repo.requests.lease_state(request_id, lease)
        row = None
        if ours:
            row = await repo.requests.load(request_id, for_update=True)
        elif free:
            claim = await repo.requests.claim(
                request_id, spec.claims, lease, ctx.settings.lease_seconds
            )
            row = claim.row if claim else None
        if row is None or row.status not in spec.claims:
            log.info(
                "failure not recorded: the request moved on or another worker holds it",
                request_id=request_id,
                stage=str(spec.stage),
                error_kind=kind,
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


async def retry_or_fail(
    spec: StageSpec[Any],
    ctx: Context,
    request_id: str,
    lease: Lease,
    error: StageError,
    policy: RetryPolicy,
) -> tuple[str, list[Dispatch], float]:
    """A transient failure under the lease: count the attempt and let the lease go
    ("retry", with the countdown to retry after), or, when the stage's attempts are used
    up, fail the request ("exhausted"). "dropped": this delivery does not hold the
    request (it moved on, or another worker took it over); nothing to do."""
    async with ctx.uow() as s:
        repo = Repository(s)
        ours, _, attempts = await repo.requests.lease_state(request_id, lease)
        attempt = attempts + 1  # this one, which just failed
        current = await repo.requests.load(request_id) if ours else None
        cancelled = current is not None and current.cancel_now
        if cancelled:
            pass  # no retry for a request the caller cancelled: it ends below
        elif ours and isinstance(error, ProviderDeferred):
            # Waiting for the provider is no attempt of the stage: nothing is counted.
            countdown = (error.retry_after or 1.0) * random.uniform(1.0, 1.25)
            await repo.requests.release_for_retry(request_id, lease, countdown, counts=False)
            return "retry", [], countdown
        if ours and not policy.exhausted(attempt):
            countdown = policy.backoff_seconds(attempt)
            if isinstance(error, TransientStageError) and error.retry_after:
                countdown = max(countdown, error.retry_after)  # the provider said when
            await repo.requests.release_for_retry(request_id, lease, countdown)
            return "retry", [], countdown
    if not ours:
        return "dropped", [], 0.0
    if cancelled:
        run = await finish_cancelled(spec, ctx, request_id, lease, attempt)
        return "cancelled", list(run), 0.0
    exhausted = PermanentStageError(
        f"The {spec.stage} stage still failed after {attempt} attempts ({error.message})"
    )
    dispatches = await fail_stage(spec, ctx, request_id, lease, exhausted, "exhausted")
    return "exhausted", dispatches, 0.0


def as_stage_error(exc: BaseException) -> StageError:
    if isinstance(exc, StageError):
        return exc
    # Unknown exceptions are bugs or unclassified provider errors: name the type only,
    # since an exception's text may carry input.
    return PermanentStageError(f"internal error in the pipeline ({type(exc).__name__})")

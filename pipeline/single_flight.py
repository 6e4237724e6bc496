"""Single-flight generation (SPEC rule 8), in one module.

Requests with the same cache key that arrive while one of them generates attach to it
(`role: follower`, `leader_id`) instead of generating again. Every decision about a key
— join or lead, and every outcome of a leader: fast path, completion, degradation,
failure — is taken under one per-key advisory lock held to the end of its transaction,
and reads the followers only after taking it, so no follower can attach to a leader in
the instant that leader moves on without being carried along. A follower marks its
leader as it attaches (`followed`, under the same lock); the leader's own transition
returns the mark, so a leader no one joined (nearly all) never looks for followers.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from db.content import ContentRow
from db.repository import Repository
from db.requests import UNSET, RequestRow, Unset
from pipeline import request_meta as M
from pipeline.dispatch import Dispatch
from pipeline.errors import Cancelled, SafetyDeclined, StageError, StaleClaim
from pipeline.states import Stage, Status

log = structlog.get_logger("vividly.single_flight")

# Failure kinds a follower would meet again on the same key: it fails with its leader.
# Anything else (retries exhausted on a transient error) lets one follower lead again.
SHARED_FAILURE_KINDS = frozenset({"permanent", "internal", "poison"})

_WAITING = (Status.cache_check,)
_ATTACHED = (Status.cache_check, Status.fast_path_ready)


async def decide(
    repo: Repository,
    row: RequestRow,
    key: str,
    admit_generation: Callable[[], Awaitable[None]] | None = None,
    flagged: str = "regenerate",
    still_stored: Callable[[ContentRow], Awaitable[bool]] | None = None,
) -> list[Dispatch]:
    """cache_check's decision for `row` (in cache_check): serve a full hit, join an
    in-flight leader, lead the video from a script+audio hit, or lead a generation.
    `admit_generation` runs before a new generation is led (the district's budget); a
    stage error it raises leaves everything as it was. `still_stored` says whether a
    finished lesson's video can still be served: one whose files are gone (a bucket
    emptied, a lifecycle rule, a checkout's storage removed) is made again, never served
    as dead links."""
    await repo.locks.cache_key(key)
    content = await repo.content.by_key(key)
    frm = Status.cache_check
    if content is not None and content.video_url and still_stored is not None:
        if not await still_stored(content):
            log.warning(
                "cached lesson's video is gone; making it again",
                request_id=row.id,
                content_id=content.id,
            )
            await repo.content.retire_one(content.id)
            content = None
    if content is not None and content.review_status == "flagged":
        if flagged == "wait":
            # No worker holds it and the watchdog leaves it be; approval sends it on.
            await repo.requests.patch(row.id, frm, {M.CACHE_KEY: key, M.REVIEW_WAIT: content.id})
            return []
        # Reported and not yet approved: never served. Out of the cache, so this request
        # leads a new generation under the key (the flagged row stays for review).
        await repo.content.retire_one(content.id)
        content = None
    if content is not None and content.video_url:
        await repo.requests.transition(
            row.id,
            frm,
            Status.completed,
            generated_content_id=content.id,
            cache_hit=True,
            metadata={M.CACHE_KEY: key, M.CACHE: "full_hit"},
            drop_metadata=(M.ROLE, M.LEADER_ID, M.RELEAD),
        )
        if row.metadata.get(M.RELEAD):
            await _complete_followers(repo, row.id, content.id, {})
        return []
    leader = await repo.requests.inflight_leader(key, exclude=row.id)
    if leader is not None:
        await repo.requests.mark_followed(leader.id)
        follow = {M.CACHE_KEY: key, M.ROLE: "follower", M.LEADER_ID: leader.id}
        if content is not None and content.audio_url:
            await _served_fast_path(repo, row, content.id, follow, (M.RELEAD,))
        else:
            joined = {**follow, M.CACHE: "joined", M.RELEAD: None}
            await repo.requests.patch(row.id, frm, joined, cache_hit=True)
        if row.metadata.get(M.RELEAD):
            # Followers that were waiting on this request now wait on the same leader.
            for f in await repo.requests.followers(row.id, _ATTACHED):
                await repo.requests.patch(f.id, f.status, {M.LEADER_ID: leader.id})
        return []
    lead = {M.CACHE_KEY: key, M.ROLE: "leader"}
    if content is not None and content.audio_url:
        await _served_fast_path(repo, row, content.id, lead, (M.LEADER_ID, M.RELEAD))
        if row.metadata.get(M.RELEAD):
            await _fast_path_followers(repo, row.id, content.id)
        return [Dispatch(Stage.video, row.id)]
    if admit_generation is not None:
        await admit_generation()
    await repo.requests.transition(
        row.id,
        frm,
        Status.generating_script,
        cache_hit=False,
        metadata={**lead, M.CACHE: "miss"},
        drop_metadata=(M.LEADER_ID, M.RELEAD),
    )
    return [Dispatch(Stage.script, row.id)]


async def fast_path(
    repo: Repository, leader: RequestRow, save_content: Callable[[], Awaitable[str]]
) -> list[Dispatch]:
    """generating_audio -> fast_path_ready for the leader and every follower waiting."""
    await repo.locks.cache_key(leader.cache_key or "")
    content_id = await save_content()
    now = await repo.requests.transition(
        leader.id,
        Status.generating_audio,
        Status.fast_path_ready,
        generated_content_id=content_id,
    )
    if now.metadata.get(M.FOLLOWED):
        await _fast_path_followers(repo, leader.id, content_id)
    if M.CANCEL_DEFERRED in now.metadata:
        # Cancelled while its followers waited: they have the fast path now, and one of
        # them leads the video for the others.
        return await _cancelled_leader(repo, now, Stage.audio)
    return [Dispatch(Stage.video, leader.id)]


async def completed(
    repo: Repository, leader: RequestRow, save_video: Callable[[], Awaitable[None]]
) -> list[Dispatch]:
    """generating_video -> completed, and the followers complete with the same content."""
    await repo.locks.cache_key(leader.cache_key or "")
    await save_video()
    return await _end_leader(repo, leader)


async def waiting_on(repo: Repository, row: RequestRow) -> list[RequestRow]:
    """The followers waiting on what `row` generates (none unless it leads)."""
    if row.metadata.get(M.ROLE) != "leader":
        return []
    return await repo.requests.followers(row.id, _ATTACHED)


async def _end_leader(
    repo: Repository,
    leader: RequestRow,
    error_message: str | Unset = UNSET,
    metadata: dict[str, Any] | None = None,
) -> list[Dispatch]:
    """The video leader completes, and its followers with the same content and message; or,
    if its cancellation waited on them (it may have been asked for since the claim), they
    complete and it ends cancelled. The completion's guard tells which, and its returned
    row whether any follower attached: no statement is spent on a leader alone."""
    try:
        now = await repo.requests.transition(
            leader.id,
            leader.status,
            Status.completed,
            error_message=error_message,
            metadata=metadata,
            unless_cancelled=True,
        )
        cancelled = False
    except StaleClaim:
        found = await repo.requests.load(leader.id, for_update=True)
        if found is None or M.CANCEL_DEFERRED not in found.metadata:
            raise  # lease lost, or cancelled with no one waiting: the runner ends it
        now, cancelled = found, True
    if now.metadata.get(M.FOLLOWED):
        message = error_message if isinstance(error_message, str) else None
        await _complete_followers(
            repo, leader.id, leader.generated_content_id, metadata or {}, message
        )
    return await _cancelled_leader(repo, now, Stage.video) if cancelled else []


async def _cancelled_leader(repo: Repository, leader: RequestRow, stage: Stage) -> list[Dispatch]:
    """A leader whose cancellation waited on its followers ends cancelled; the first
    follower still short of its video leads it for the rest."""
    await repo.requests.transition(
        leader.id,
        leader.status,
        Status.failed,
        error_message=Cancelled().message,
        metadata={M.CANCELLED: {"at": time.time(), "stage": str(stage)}},
        drop_metadata=(M.CANCEL_DEFERRED,),
        # In the transaction that just moved it on (and let its lease go), under the
        # key's lock: no other delivery can hold it.
        lease=None,
    )
    rest = await repo.requests.followers(leader.id, (Status.fast_path_ready,))
    if not rest:
        return []
    first = await _hand_over(repo, rest, {M.ROLE: "leader", M.LEADER_ID: None})
    return [Dispatch(Stage.video, first.id)]


async def _hand_over(
    repo: Repository, followers: list[RequestRow], lead: dict[str, Any]
) -> RequestRow:
    """The first follower takes the lead (its metadata patched with `lead`); the others
    wait on it now."""
    first, *rest = followers
    await repo.requests.patch(first.id, first.status, {**lead, M.FOLLOWED: True} if rest else lead)
    for f in rest:
        await repo.requests.patch(f.id, f.status, {M.LEADER_ID: first.id})
    return first


async def degraded(
    repo: Repository, leader: RequestRow, error: StageError, kind: str
) -> list[Dispatch]:
    """Video failed for good after the fast path: the leader and its followers end
    `completed` with the vivid_now content and the same error (SPEC rule 9)."""
    await repo.locks.cache_key(leader.cache_key or "")
    note = {
        M.VIDEO_ERROR: error.message,
        M.FAILED_STAGE: str(Stage.video),
        M.ERROR_KIND: kind,
        M.DEGRADED_AT: time.time(),
    }
    message = (
        f"Video could not be made ({error.message}); the lesson is available as script and audio."
    )
    return await _end_leader(repo, leader, error_message=message, metadata=note)


async def failed(
    repo: Repository, row: RequestRow, stage: Stage, error: StageError, kind: str
) -> list[Dispatch]:
    """The request fails. If it led a generation, its followers fail with the same
    message when they would fail the same way; otherwise one of them leads again and
    the others stay attached to it."""
    if row.cache_key and row.metadata.get(M.ROLE) == "leader":
        await repo.locks.cache_key(row.cache_key)
    note: dict[str, Any] = {
        M.FAILED_STAGE: str(stage),
        M.ERROR_KIND: kind,
        M.FAILED_AT: time.time(),
    }
    if isinstance(error, SafetyDeclined):
        note[M.SAFETY] = error.category
    if isinstance(error, Cancelled):
        note[M.CANCELLED] = {"at": note[M.FAILED_AT], "stage": str(stage)}
    now = await repo.requests.transition(
        row.id, row.status, Status.failed, error_message=error.message, metadata=note
    )
    if row.metadata.get(M.ROLE) != "leader" or not now.metadata.get(M.FOLLOWED):
        return []
    followers = await repo.requests.followers(row.id, _WAITING)
    if not followers:
        return []
    if kind in SHARED_FAILURE_KINDS:
        for f in followers:
            await repo.requests.transition(
                f.id,
                f.status,
                Status.failed,
                error_message=error.message,
                metadata={**note, M.FAILED_WITH_LEADER: row.id},
            )
        log.info("followers failed with their leader", request_id=row.id, followers=len(followers))
        return []
    first = await _hand_over(repo, followers, {M.ROLE: None, M.LEADER_ID: None, M.RELEAD: True})
    attached = len(followers) - 1
    log.info("follower leads again", request_id=row.id, new_leader=first.id, attached=attached)
    return [Dispatch(Stage.cache_check, first.id)]


def retry_status(row: RequestRow, stage: Stage) -> Status:
    """Where a retry re-opens a failed request. Past NLU it re-enters through the cache
    check, under the key's lock: it joins an in-flight leader or is served finished
    content before it leads again, so a retry never makes a second leader."""
    if stage == Stage.nlu or not (row.topic_id and row.interest_id):
        return Status.nlu_processing
    return Status.cache_check


async def _served_fast_path(
    repo: Repository,
    row: RequestRow,
    content_id: str,
    role: dict[str, Any],
    drop: tuple[str, ...],
) -> None:
    """cache_check -> fast_path_ready on a script+audio hit (as follower or video leader)."""
    await repo.requests.transition(
        row.id,
        Status.cache_check,
        Status.fast_path_ready,
        generated_content_id=content_id,
        cache_hit=True,
        metadata={**role, M.CACHE: "fast_path_hit"},
        drop_metadata=drop,
    )


async def _fast_path_followers(repo: Repository, leader_id: str, content_id: str) -> None:
    await _move_followers(repo, leader_id, _WAITING, Status.fast_path_ready, content_id)


async def _complete_followers(
    repo: Repository,
    leader_id: str,
    content_id: str | None,
    note: dict[str, Any],
    error_message: str | None = None,
) -> None:
    await _move_followers(
        repo, leader_id, _ATTACHED, Status.completed, content_id, note, error_message or UNSET
    )


async def _move_followers(
    repo: Repository,
    leader_id: str,
    attached: tuple[Status, ...],
    to: Status,
    content_id: str | None,
    note: dict[str, Any] | None = None,
    error_message: str | Unset = UNSET,
) -> None:
    """Every follower of the leader still in one of `attached` moves to `to`, served from
    the leader's content."""
    for f in await repo.requests.followers(leader_id, attached):
        await repo.requests.transition(
            f.id,
            f.status,
            to,
            generated_content_id=content_id,
            cache_hit=True,
            metadata=note,
            error_message=error_message,
        )

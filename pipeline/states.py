"""The content-request state machine: the seed's request_status values and legal edges.

Pure data and stdlib only: this module is the one place that says which status change
is allowed. Every change goes through `check` (see db/repository.py `transition`).
"""

from __future__ import annotations

from enum import StrEnum

from pipeline.errors import InvalidTransition


class Status(StrEnum):
    nlu_processing = "nlu_processing"
    needs_clarification = "needs_clarification"
    cache_check = "cache_check"
    generating_script = "generating_script"
    generating_audio = "generating_audio"
    generating_video = "generating_video"
    fast_path_ready = "fast_path_ready"
    completed = "completed"
    failed = "failed"


class Stage(StrEnum):
    nlu = "nlu"
    cache_check = "cache_check"
    script = "script"
    audio = "audio"
    video = "video"


S = Status

# status -> statuses it may move to. Beyond SPEC's table:
# - fast_path_ready -> completed: a follower of a single-flight generation completes when
#   its leader does, without rendering video itself.
# - needs_clarification -> failed: the clarification-expiry job.
# - generating_video -> completed also covers degradation (video failed for good after
#   the fast path: completed with vivid_now content and the error kept).
# - failed -> nlu_processing | cache_check: an explicit retry re-opens the request; past
#   NLU it re-enters through the cache check (single flight: a retry never becomes a
#   second leader; what was already made for its key is served or reused).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.nlu_processing: frozenset({S.needs_clarification, S.cache_check, S.failed}),
    S.needs_clarification: frozenset({S.nlu_processing, S.cache_check, S.failed}),
    S.cache_check: frozenset({S.completed, S.fast_path_ready, S.generating_script, S.failed}),
    S.generating_script: frozenset({S.generating_audio, S.failed}),
    S.generating_audio: frozenset({S.fast_path_ready, S.failed}),
    S.fast_path_ready: frozenset({S.generating_video, S.completed, S.failed}),
    S.generating_video: frozenset({S.completed, S.failed}),
    S.completed: frozenset(),
    S.failed: frozenset({S.nlu_processing, S.cache_check}),
}

# The stage whose task works on a request in this status.
STAGE_FOR_STATUS: dict[Status, Stage] = {
    S.nlu_processing: Stage.nlu,
    S.cache_check: Stage.cache_check,
    S.generating_script: Stage.script,
    S.generating_audio: Stage.audio,
    S.fast_path_ready: Stage.video,
    S.generating_video: Stage.video,
}

TERMINAL: frozenset[Status] = frozenset({S.completed, S.failed})
WAITING: frozenset[Status] = frozenset({S.needs_clarification})
WORKING: frozenset[Status] = frozenset(STAGE_FOR_STATUS)


def is_legal(frm: Status | str, to: Status | str) -> bool:
    return Status(to) in TRANSITIONS[Status(frm)]


def check(frm: Status | str, to: Status | str) -> None:
    if not is_legal(frm, to):
        raise InvalidTransition(str(frm), str(to))

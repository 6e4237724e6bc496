"""The keys of `content_requests.metadata` (JSONB), named once.

What the runner needs to be correct (leases, claims, attempts, dispatch times) lives in
columns of `request_execution` (migration 003); what stays here is the request's story
for API services and ops, and the single-flight links, which SQL also reads by these names.
"""

from __future__ import annotations

from typing import Final

# Status timeline, appended by every transition (db/repository.py).
HISTORY: Final = "history"
# The student's grade when the request was made.
GRADE_LEVEL: Final = "grade_level"
# NLU's confidence and where the interest came from; a clarification asked and answered.
NLU: Final = "nlu"
CLARIFICATION: Final = "clarification"
# Single flight: the key, this request's role ("leader" / "follower") and its leader.
CACHE_KEY: Final = "cache_key"
ROLE: Final = "role"
LEADER_ID: Final = "leader_id"
# Set on a leader once a follower attached to it: only then does it look for followers.
FOLLOWED: Final = "followed"
# Set on a follower that leads again after its leader failed: the others wait on it, so
# its cache check carries them along (only such a request can have followers there).
RELEAD: Final = "relead"
# cache_check's decision: full_hit, fast_path_hit, joined or miss.
CACHE: Final = "cache"
# The stored script, before generated_content has a row.
SCRIPT_URL: Final = "script_url"
# How a request failed or degraded.
FAILED_STAGE: Final = "failed_stage"
ERROR_KIND: Final = "error_kind"
SAFETY: Final = "safety"  # the harm category the safety gate declined
FAILED_AT: Final = "failed_at"
FAILED_WITH_LEADER: Final = "failed_with_leader"
VIDEO_ERROR: Final = "video_error"
DEGRADED_AT: Final = "degraded_at"
RETRIED_FROM: Final = "retried_from"
# Cancellation (VividlyClient.cancel): asked for (a time); deferred while the request leads
# a generation that followers wait on (it ends cancelled once their content is made); and
# the record of a request that ended cancelled ({"at", "stage"}).
CANCEL_REQUESTED: Final = "cancel_requested_at"
CANCEL_DEFERRED: Final = "cancel_deferred"
CANCELLED: Final = "cancelled"
# The content review gate: the flagged content a request waits on (REVIEW_FLAGGED=wait),
# in cache_check, until curriculum staff approve it (or it is regenerated).
REVIEW_WAIT: Final = "review_wait"

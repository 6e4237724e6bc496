"""Where a retry re-enters: never past the cache check's lock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from db.requests import RequestRow
from pipeline.single_flight import SHARED_FAILURE_KINDS, retry_status
from pipeline.states import Stage, Status

ROW = RequestRow(
    id="req_1", student_id="user_1", original_query="q", topic_id="topic_a",
    interest_id="int_a", style="conversational", status=Status.failed, cache_hit=False,
    generated_content_id=None, error_message="x", retry_count=0, metadata={},
    created_at=None, completed_at=None,
)  # fmt: skip


@pytest.mark.parametrize("stage", [Stage.cache_check, Stage.script, Stage.audio, Stage.video])
def test_a_retry_past_nlu_reenters_through_the_cache_check(stage: Stage) -> None:
    assert retry_status(ROW, stage) == Status.cache_check


def test_a_retry_of_nlu_or_of_a_request_without_topic_starts_over() -> None:
    assert retry_status(ROW, Stage.nlu) == Status.nlu_processing
    assert retry_status(replace(ROW, topic_id=None), Stage.audio) == Status.nlu_processing


def test_followers_share_failures_that_would_repeat_not_transient_exhaustion() -> None:
    assert {"permanent", "internal", "poison"} == SHARED_FAILURE_KINDS
    assert "exhausted" not in SHARED_FAILURE_KINDS

"""The transition table, as data: properties that hold for every status and edge."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import InvalidTransition
from pipeline.states import STAGE_FOR_STATUS, TERMINAL, TRANSITIONS, WORKING, Status, check

statuses = st.sampled_from(list(Status))


@given(statuses, statuses)
def test_check_refuses_exactly_the_edges_the_table_lacks(frm: Status, to: Status) -> None:
    if to in TRANSITIONS[frm]:
        check(frm, to)
    else:
        with pytest.raises(InvalidTransition):
            check(frm, to)


def test_every_status_is_reachable_from_a_new_request_and_every_path_can_end() -> None:
    seen, frontier = {Status.nlu_processing}, [Status.nlu_processing]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(Status)
    for status in Status:  # from anywhere, a terminal status is one or more steps away
        assert (
            status in TERMINAL
            or TRANSITIONS[status] & TERMINAL
            or any(TRANSITIONS[n] & TERMINAL for n in TRANSITIONS[status])
        )


def test_every_working_status_has_a_stage_and_can_fail() -> None:
    assert set(STAGE_FOR_STATUS) == WORKING
    for status in WORKING:
        assert Status.failed in TRANSITIONS[status]


def test_completed_is_final_and_a_retry_reenters_only_through_nlu_or_the_cache_check() -> None:
    assert TRANSITIONS[Status.completed] == frozenset()
    # Past NLU a retry goes through the key's lock: never straight to a generating status.
    assert TRANSITIONS[Status.failed] == {Status.nlu_processing, Status.cache_check}


@given(statuses)
def test_no_status_moves_to_itself(status: Status) -> None:
    assert status not in TRANSITIONS[status]

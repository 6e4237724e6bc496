"""Which next stage a task runs in its own delivery instead of sending it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.dispatch import Dispatch
from pipeline.states import Stage
from workers.routing import QUEUE_FOR_STAGE, runs_here

RID, OTHER = "req_0000000000000001", "req_0000000000000002"


def test_cache_check_after_nlu_runs_here() -> None:
    after_nlu = [Dispatch(Stage.cache_check, RID)]
    assert runs_here(Stage.nlu, RID, after_nlu) == after_nlu[0]


def test_a_stage_on_another_queue_is_sent() -> None:
    assert runs_here(Stage.cache_check, RID, [Dispatch(Stage.script, RID)]) is None
    assert runs_here(Stage.audio, RID, [Dispatch(Stage.video, RID)]) is None


def test_another_request_is_sent_even_on_the_same_queue() -> None:
    # e.g. a follower that leads again: it is its own delivery's business.
    assert runs_here(Stage.nlu, RID, [Dispatch(Stage.cache_check, OTHER)]) is None


def test_nothing_earlier_or_the_same_stage_runs_here() -> None:
    assert runs_here(Stage.cache_check, RID, [Dispatch(Stage.nlu, RID)]) is None
    assert runs_here(Stage.video, RID, [Dispatch(Stage.video, RID)]) is None


def test_two_next_stages_of_one_request_are_both_sent() -> None:
    two = [Dispatch(Stage.cache_check, RID), Dispatch(Stage.cache_check, RID)]
    assert runs_here(Stage.nlu, RID, two) is None


@given(
    st.sampled_from(list(Stage)),
    st.lists(st.tuples(st.sampled_from(list(Stage)), st.sampled_from([RID, OTHER]))),
)
def test_only_a_later_stage_of_this_request_on_this_queue_ever_runs_here(
    stage: Stage, sent: list[tuple[Stage, str]]
) -> None:
    dispatches = [Dispatch(s, r) for s, r in sent]
    here = runs_here(stage, RID, dispatches)
    if here is not None:
        assert here in dispatches and here.request_id == RID
        assert QUEUE_FOR_STAGE[here.stage] == QUEUE_FOR_STAGE[stage]
        assert list(Stage).index(here.stage) > list(Stage).index(stage)

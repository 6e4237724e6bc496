"""Which next stage a task runs in its own delivery instead of sending it."""

from __future__ import annotations

from collections.abc import Collection

from hypothesis import given
from hypothesis import strategies as st

from pipeline.dispatch import Dispatch
from pipeline.stages.limits import HARD_LIMITS as HARD
from pipeline.stages.limits import TIME_LIMITS
from pipeline.states import Stage
from workers.routing import QUEUE_FOR_STAGE, QUEUES, runs_here

RID, OTHER = "req_0000000000000001", "req_0000000000000002"
EVERY_QUEUE = frozenset(QUEUES)
FAST = frozenset({"watchdog", "nlu"})  # docker-compose.yml's workers
GENERATION = frozenset({"audio", "script"})
VIDEO = frozenset({"video"})


def here(
    stage: Stage,
    dispatches: list[Dispatch],
    consumed: Collection[str] = EVERY_QUEUE,
    seconds_left: float | None = None,
) -> Dispatch | None:
    """runs_here at the start of the delivery: the whole soft limit of `stage` left."""
    left = TIME_LIMITS[stage][0] if seconds_left is None else seconds_left
    return runs_here(stage, RID, dispatches, consumed, left, HARD)


def test_cache_check_after_nlu_runs_here_on_the_fast_worker() -> None:
    after_nlu = [Dispatch(Stage.cache_check, RID)]
    assert here(Stage.nlu, after_nlu, FAST) == after_nlu[0]
    assert here(Stage.nlu, after_nlu) == after_nlu[0]


def test_audio_after_the_script_runs_here_on_the_generation_worker() -> None:
    after_script = [Dispatch(Stage.audio, RID)]
    assert here(Stage.script, after_script, GENERATION) == after_script[0]
    assert here(Stage.script, after_script) == after_script[0]


def test_a_stage_whose_queue_this_worker_does_not_consume_is_sent() -> None:
    assert here(Stage.cache_check, [Dispatch(Stage.script, RID)], FAST) is None
    assert here(Stage.audio, [Dispatch(Stage.video, RID)], GENERATION) is None
    assert here(Stage.script, [Dispatch(Stage.audio, RID)], VIDEO | {"script"}) is None


def test_a_stage_whose_hard_limit_outlasts_this_delivery_is_sent() -> None:
    # The video (600 s) never fits in the audio's 55 s; the script (120 s) never in what
    # is left of the NLU message's 25 s when the cache check has led a generation.
    assert here(Stage.audio, [Dispatch(Stage.video, RID)]) is None
    assert here(Stage.cache_check, [Dispatch(Stage.script, RID)], seconds_left=24.0) is None
    # A script that took most of its time leaves too little for the audio's 60 s.
    assert here(Stage.script, [Dispatch(Stage.audio, RID)], seconds_left=59.0) is None
    assert here(Stage.script, [Dispatch(Stage.audio, RID)], seconds_left=60.0) is not None


def test_another_request_is_sent_even_on_the_same_queue() -> None:
    # e.g. a follower that leads again: it is its own delivery's business.
    assert here(Stage.nlu, [Dispatch(Stage.cache_check, OTHER)]) is None


def test_nothing_earlier_or_the_same_stage_runs_here() -> None:
    assert here(Stage.cache_check, [Dispatch(Stage.nlu, RID)]) is None
    assert here(Stage.video, [Dispatch(Stage.video, RID)]) is None


def test_two_next_stages_of_one_request_are_both_sent() -> None:
    two = [Dispatch(Stage.cache_check, RID), Dispatch(Stage.cache_check, RID)]
    assert here(Stage.nlu, two) is None


@given(
    st.sampled_from(list(Stage)),
    st.lists(st.tuples(st.sampled_from(list(Stage)), st.sampled_from([RID, OTHER]))),
    st.sets(st.sampled_from(QUEUES)),
    st.floats(min_value=0.0, max_value=700.0),
)
def test_only_a_later_stage_of_this_request_that_this_worker_takes_and_that_fits_runs_here(
    stage: Stage, sent: list[tuple[Stage, str]], consumed: set[str], seconds_left: float
) -> None:
    dispatches = [Dispatch(s, r) for s, r in sent]
    found = runs_here(stage, RID, dispatches, consumed, seconds_left, HARD)
    if found is not None:
        assert found in dispatches and found.request_id == RID
        assert QUEUE_FOR_STAGE[found.stage] in consumed
        assert list(Stage).index(found.stage) > list(Stage).index(stage)
        assert HARD[found.stage] <= seconds_left

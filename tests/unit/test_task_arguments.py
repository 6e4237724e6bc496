"""Only ids cross the broker: a task refuses anything else when it is sent."""

from __future__ import annotations

import pytest

from workers.tasks import cache_check


@pytest.mark.parametrize("bad", [{"query": "how do magnets work"}, ["req_1"], 1.5, object()])
def test_a_stage_task_refuses_arguments_that_are_not_ids(bad: object) -> None:
    with pytest.raises(TypeError, match="takes ids only"):
        cache_check.apply_async(args=[bad])

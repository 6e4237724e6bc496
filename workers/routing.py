"""Where tasks go: the queues, the stage of each, task names and the broker transport
options. A leaf module (no Celery app), so metrics, the queue probe and the app share it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pipeline.dispatch import Dispatch
from pipeline.states import Stage

# Which queue each stage's task goes to (SPEC "Stage limits and retries").
QUEUE_FOR_STAGE: dict[Stage, str] = {
    Stage.nlu: "nlu",
    Stage.cache_check: "nlu",
    Stage.script: "script",
    Stage.audio: "audio",
    Stage.video: "video",
}
# The watchdog has a queue of its own, consumed first by its worker: no backlog of other
# work can starve the sweep that guarantees every request ends. Bulk uploads run long
# and have theirs, off the NLU worker.
QUEUES = ("watchdog", "video", "audio", "script", "nlu", "maintenance", "bulk")
# Redis redelivers an unacked message after this long; it must exceed the longest hard
# limit (video, 600 s) or a slow render would be handed to a second worker.
VISIBILITY_TIMEOUT_SECONDS = 3600


def runs_here(
    stage: Stage,
    request_id: str,
    dispatches: list[Dispatch],
    consumed: Collection[str],
    seconds_left: float,
    hard_limits: Mapping[Stage, float],
) -> Dispatch | None:
    """The next stage of this request, when this worker consumes its queue and what is
    left of this delivery's soft time limit (`seconds_left`) covers that stage's hard one
    (`hard_limits`), so it ends before the message's limit could fire: NLU ->
    cache_check on the fast worker, script -> audio on the generation worker. This worker
    would take it anyway, so it runs now, in this process, instead of making a trip
    through the broker and waiting behind the queue's backlog. A stage whose limit does
    not fit (the video after the audio, the script after the cache check) is sent. The
    row is committed first, as for a send, with the lease handed over to that stage
    (pipeline/runner.py, HandOver): should this process die, the lease runs out and the
    watchdog sends the stage's message again."""
    order = list(Stage)  # the order a request goes through the stages
    ahead = [
        d
        for d in dispatches
        if d.request_id == request_id
        and order.index(d.stage) > order.index(stage)
        and QUEUE_FOR_STAGE[d.stage] in consumed
    ]
    if len(ahead) != 1 or hard_limits[ahead[0].stage] > seconds_left:
        return None
    return ahead[0]


def task_name(stage: Stage) -> str:
    return f"pipeline.{stage}"


TRANSPORT_OPTIONS: dict[str, Any] = {
    "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
    # Consume queues in the order given to -Q: later stages first.
    "queue_order_strategy": "priority",
    # A Redis that stops answering fails a publish or a poll in seconds (then the
    # connection is retried) instead of hanging a worker or beat.
    "socket_timeout": 10,
    "socket_connect_timeout": 5,
}

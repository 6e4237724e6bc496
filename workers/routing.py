"""Where tasks go: the queues, the stage of each, task names and the broker transport
options. A leaf module (no Celery app), so metrics, the queue probe and the app share it."""

from __future__ import annotations

from typing import Any

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

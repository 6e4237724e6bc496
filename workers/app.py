"""The Celery app: JSON only, late acks, one queue per stage, time limits from SPEC."""

from __future__ import annotations

from celery import Celery
from celery.signals import (
    setup_logging,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)
from kombu.entity import Queue

from pipeline.settings import get_settings
from workers.broker import serve_redis_urls
from workers.routing import QUEUE_FOR_STAGE, QUEUES, TRANSPORT_OPTIONS, task_name
from workers.schedule import beat_schedule

__all__ = ["QUEUES", "QUEUE_FOR_STAGE", "app", "consumed_queues", "task_name"]


def create_app() -> Celery:
    serve_redis_urls()  # before any connection is made (workers/broker.py)
    settings = get_settings()
    app = Celery(
        "vividly",
        broker=settings.redis_url,
        include=["workers.tasks", "workers.jobs", "workers.bulk"],
    )
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        # No result backend, so no celery.backend_cleanup entry in the beat schedule.
        result_expires=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        # A pool child that warms up the NLU model takes seconds to start on a busy
        # machine; Celery's 4 s default would SIGKILL and respawn it in a loop.
        worker_proc_alive_timeout=30,
        worker_hijack_root_logger=False,
        # Our JSON handler writes to the real stderr; Celery's stdout proxy would loop.
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=dict(TRANSPORT_OPTIONS),
        # Reconnect after a broker restart instead of giving up.
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        task_queues=[Queue(q) for q in QUEUES],
        task_default_queue="maintenance",
        task_routes={
            **{task_name(s): {"queue": q} for s, q in QUEUE_FOR_STAGE.items()},
            "jobs.watchdog": {"queue": "watchdog"},
            "jobs.*": {"queue": "maintenance"},
            "ops.bulk_upload": {"queue": "bulk"},
            "ops.*": {"queue": "maintenance"},
        },
        beat_schedule=beat_schedule(settings.watchdog_period_seconds),
        beat_scheduler="workers.beat:ResilientRedBeatScheduler",
        redbeat_redis_url=settings.redis_url,
        redbeat_key_prefix="vividly:redbeat",
        # One beat host holds this lock; a standby retries every beat_max_loop_interval
        # and takes over within redbeat_lock_timeout if the holder dies holding it.
        beat_max_loop_interval=5,
        redbeat_lock_timeout=30,
        # Flower and ops tooling follow tasks through these events.
        worker_send_task_events=True,
        task_send_sent_event=True,
    )
    return app


app = create_app()

# Registers the metrics signal handlers wherever the app is imported: workers serve
# /metrics, and every publisher stamps the send time the queue-age gauge reads.
import workers.metrics  # noqa: E402, F401


@setup_logging.connect
def _setup_logging(**_: object) -> None:
    """Connected, so Celery leaves logging to us: one JSON format for every line."""
    from workers.logs import configure_logging

    configure_logging()


@worker_init.connect
def _init_worker(**_: object) -> None:
    """In the main process, before it forks the pool: the children inherit its heaps and
    the address of the voice process, when they narrate with Piper."""
    from pipeline.providers.heap import limit_heaps

    limit_heaps()
    if "audio" in consumed_queues() and get_settings().speech_provider == "piper":
        from workers import voice

        voice.start()


@worker_shutdown.connect
def _shutdown_worker(**_: object) -> None:
    """After the pool has finished its tasks (a warm shutdown)."""
    from workers import voice

    voice.stop()


@worker_process_init.connect
def _init_process(**_: object) -> None:
    from pipeline.providers.heap import limit_heaps
    from workers.logs import configure_logging
    from workers.runtime import get_runtime

    limit_heaps()  # before the child starts any thread of its own
    configure_logging()
    from pipeline.settings import get_settings
    from workers import tracing

    tracing.configure(
        get_settings().trace_exporter, tracing.service_name(frozenset(consumed_queues()))
    )
    runtime = get_runtime()
    # Only a child that will answer NLU loads the sentence model (~330 MiB, seconds of
    # start-up); the resolver still loads it lazily should such a task ever arrive.
    if "nlu" in consumed_queues():
        runtime.warm_up()


def consumed_queues() -> set[str]:
    """The queues this worker consumes (its -Q), known in the forked pool children too."""
    return set(app.amqp.queues.consume_from or {}) or set(QUEUES)


@worker_process_shutdown.connect
def _shutdown_process(**_: object) -> None:
    from workers import tracing
    from workers.runtime import shutdown_runtime

    shutdown_runtime()
    tracing.shutdown()

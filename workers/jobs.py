"""Beat job tasks (`jobs.<name>`): a per-slot record in Redis makes a second fire of the
same schedule slot a logged no-op; the job itself takes an advisory lock (pipeline.jobs)."""

from __future__ import annotations

import time

import structlog

from pipeline.jobs import run_job
from workers.app import app
from workers.runtime import get_runtime
from workers.schedule import PERIOD_SECONDS
from workers.tasks import _broker_redis, send

log = structlog.get_logger("vividly.jobs")


def claim_slot(name: str, period: float, now: float | None = None) -> bool:
    """True for the first fire of this job in its current schedule slot."""
    slot = int((now or time.time()) // period)
    key = f"vividly:job-slot:{name}:{slot}"
    return bool(_broker_redis().set(key, "1", nx=True, ex=int(period * 2) + 60))


def _job_task(name: str):  # type: ignore[no-untyped-def]
    @app.task(name=f"jobs.{name}", acks_late=True)
    def job_task(manual: bool = False) -> int:
        if not manual and not claim_slot(name, PERIOD_SECONDS[name]):
            log.info("job skipped: this schedule slot already ran", job=name, outcome="dup")
            return 0
        rt = get_runtime()
        result = rt.run(run_job(rt.context, name))
        send(result.dispatches)
        for name_, arg in result.tasks:
            app.send_task(name_, args=[arg])
        return result.changed

    return job_task


tasks = {name: _job_task(name) for name in PERIOD_SECONDS}

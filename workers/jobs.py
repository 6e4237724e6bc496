"""Beat job tasks (`jobs.<name>`): a per-slot record in Redis makes a second fire of the
same schedule slot a logged no-op; the job itself takes an advisory lock (pipeline.jobs)."""

from __future__ import annotations

import time
from dataclasses import replace

import structlog
from celery import Task

from pipeline.jobs import run_job
from workers import metrics
from workers.client import send
from workers.policy import vividly_task
from workers.runtime import get_runtime
from workers.schedule import JOBS, JobSpec, period_seconds
from workers.tasks import _broker_redis

log = structlog.get_logger("vividly.jobs")


def claim_slot(name: str, period: float, now: float | None = None) -> bool:
    """True for the first fire of this job in its current schedule slot."""
    slot = int((now or time.time()) // period)
    key = f"vividly:job-slot:{name}:{slot}"
    return bool(_broker_redis().set(key, "1", nx=True, ex=int(period * 2) + 60))


def _job_task(job: JobSpec) -> Task:
    # No retry: a job that fails (storage or database away) logs it, and the next slot's
    # run picks up the rest; its batches are safe to run again.
    @vividly_task(
        f"jobs.{job.name}",
        soft_time_limit=job.soft_time_limit,
        time_limit=job.time_limit,
        reject_on_worker_lost=False,
    )
    def job_task(self: Task, manual: bool = False) -> int:
        rt = get_runtime()
        period = period_seconds(job.name, rt.context.settings.watchdog_period_seconds)
        if not manual and not claim_slot(job.name, period):
            log.info("job skipped: this schedule slot already ran", job=job.name, outcome="dup")
            metrics.record_job(job.name, "dup")
            return 0
        # The job sends what each batch decided right after that batch commits.
        try:
            result = rt.run(run_job(replace(rt.context, enqueue=send), job.name))
        except Exception:
            metrics.record_job(job.name, "failed")
            raise
        outcome = "locked" if result.locked else "ok"
        metrics.record_job(job.name, outcome, result.details if job.name == "watchdog" else None)
        send(result.dispatches)
        for name_, arg in result.tasks:
            self.app.send_task(name_, args=[arg])
        return result.changed

    return job_task


tasks = {job.name: _job_task(job) for job in JOBS}

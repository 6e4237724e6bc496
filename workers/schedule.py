"""The scheduled jobs, declared once: the beat schedule, the schedule slots and the time
limits all derive from JOBS. Every entry carries `expires` (a backlog does not pile up
runs) and a one-line reason. Times are UTC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery.schedules import crontab

MINUTE, HOUR, DAY = 60, 3600, 86400


@dataclass(frozen=True)
class JobSpec:
    name: str  # the pipeline.jobs registry name; the task is jobs.<name>
    entry: str  # the beat entry's name
    schedule: float | crontab  # a period in seconds (None: the watchdog setting) or crontab
    period_seconds: float  # the width of one schedule slot (workers/jobs.claim_slot)
    soft_time_limit: float
    time_limit: float
    reason: str


def _daily(name: str, entry: str, hour: int, minute: int, reason: str) -> JobSpec:
    return JobSpec(name, entry, crontab(hour=hour, minute=minute), DAY, 55 * MINUTE, HOUR, reason)


def _hourly(name: str, entry: str, minute: int, reason: str) -> JobSpec:
    return JobSpec(name, entry, crontab(minute=minute), HOUR, 10 * MINUTE, 11 * MINUTE, reason)


WATCHDOG = "watchdog"
# The watchdog's limits stay under its default period; its runs never overlap anyway
# (each run holds the job's advisory lock).
WATCHDOG_SOFT_TIME_LIMIT, WATCHDOG_TIME_LIMIT = 45.0, 55.0

JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        WATCHDOG, "watchdog", MINUTE, MINUTE, WATCHDOG_SOFT_TIME_LIMIT, WATCHDOG_TIME_LIMIT,
        "a lost message or a killed worker must not leave a request stuck",
    ),
    _hourly("clarification_expiry", "clarification-expiry", 5,
            "students who never answered a clarification get a clear end after 24 h"),
    _hourly("reset_tokens", "reset-tokens", 15,
            "the seed's hourly cleanup of expired password-reset tokens"),
    _daily("content_request_retention", "content-request-retention", 3, 0,
           "finished requests older than 90 days: archive, then soft-delete"),
    _daily("request_scrub", "request-scrub", 3, 15,
           "soft-deleted requests lose the student's words after the grace period"),
    _hourly("upload_file_retention", "upload-file-retention", 25,
            "uploaded student CSVs are deleted once their job has ended"),
    _daily("feedback_audit_retention", "feedback-audit-retention", 3, 30,
           "feedback after 2 years and audit logs after 7: archive, then delete"),
    _daily("user_retention", "user-retention", 4, 0,
           "users of organisations whose contract ended 30+ days ago: hard delete"),
    _daily("audit_log_partitions", "audit-log-partitions", 1, 0,
           "next year's audit_logs partition exists long before its first row"),
    _daily("content_stats", "content-stats", 2, 0,
           "ratings and completions change all day; the dashboards read nightly figures"),
)  # fmt: skip

JOB_SPECS: dict[str, JobSpec] = {j.name: j for j in JOBS}


def period_seconds(name: str, watchdog_period: float) -> float:
    return watchdog_period if name == WATCHDOG else JOB_SPECS[name].period_seconds


def beat_schedule(watchdog_period: float) -> dict[str, dict[str, Any]]:
    """Celery's beat_schedule; the watchdog's period is a setting (short in tests)."""
    out: dict[str, dict[str, Any]] = {}
    for job in JOBS:
        schedule = watchdog_period if job.name == WATCHDOG else job.schedule
        period = period_seconds(job.name, watchdog_period)
        out[job.entry] = {
            "task": f"jobs.{job.name}",
            "schedule": schedule,
            # A fire that waited most of its period is dropped: the next one is due.
            "options": {"expires": max(1.0, period * 0.9)},
        }
    return out

"""The beat schedule. Every entry carries `expires` (a backlog does not pile up runs)
and a one-line reason. Times are UTC."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

MINUTE, HOUR, DAY = 60, 3600, 86400

# The period of each job: the width of its schedule slot (see workers/jobs.claim_slot).
PERIOD_SECONDS: dict[str, int] = {
    "watchdog": MINUTE,
    "clarification_expiry": HOUR,
    "reset_tokens": HOUR,
    "content_request_retention": DAY,
    "feedback_audit_retention": DAY,
    "user_retention": DAY,
    "content_stats": DAY,
}

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # A lost message or a killed worker must not leave a request stuck.
    "watchdog": {"task": "jobs.watchdog", "schedule": 60.0, "options": {"expires": 55}},
    # Students who never answered a clarification get a clear end after 24 h.
    "clarification-expiry": {
        "task": "jobs.clarification_expiry",
        "schedule": crontab(minute=5),
        "options": {"expires": 50 * MINUTE},
    },
    # The seed's hourly cleanup of expired password-reset tokens.
    "reset-tokens": {
        "task": "jobs.reset_tokens",
        "schedule": crontab(minute=15),
        "options": {"expires": 50 * MINUTE},
    },
    # Finished requests older than 90 days: archive, then soft-delete.
    "content-request-retention": {
        "task": "jobs.content_request_retention",
        "schedule": crontab(hour=3, minute=0),
        "options": {"expires": 6 * HOUR},
    },
    # Feedback after 2 years and audit logs after 7: archive, then delete.
    "feedback-audit-retention": {
        "task": "jobs.feedback_audit_retention",
        "schedule": crontab(hour=3, minute=30),
        "options": {"expires": 6 * HOUR},
    },
    # Users of organisations whose contract ended 30+ days ago: hard delete.
    "user-retention": {
        "task": "jobs.user_retention",
        "schedule": crontab(hour=4, minute=0),
        "options": {"expires": 6 * HOUR},
    },
    # Ratings and completions change all day; the dashboards read nightly figures.
    "content-stats": {
        "task": "jobs.content_stats",
        "schedule": crontab(hour=2, minute=0),
        "options": {"expires": 6 * HOUR},
    },
}

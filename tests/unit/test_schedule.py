"""The beat schedule derives from one list of job specs."""

from __future__ import annotations

from celery.schedules import crontab

from pipeline.jobs import registry
from workers.schedule import JOBS, beat_schedule, period_seconds


def test_every_job_spec_names_a_registered_job_and_has_a_reason() -> None:
    assert {j.name for j in JOBS} == set(registry())
    assert all(j.reason and j.soft_time_limit < j.time_limit for j in JOBS)


def test_each_entry_expires_within_its_period_and_the_watchdog_period_is_a_setting() -> None:
    schedule = beat_schedule(watchdog_period=7.0)
    assert schedule["watchdog"]["schedule"] == 7.0
    for job in JOBS:
        entry = schedule[job.entry]
        assert entry["task"] == f"jobs.{job.name}"
        assert 0 < entry["options"]["expires"] < period_seconds(job.name, 7.0)
        if job.name != "watchdog":
            assert isinstance(entry["schedule"], crontab)


def test_the_watchdog_is_done_before_its_next_default_fire() -> None:
    watchdog = next(j for j in JOBS if j.name == "watchdog")
    assert watchdog.time_limit < watchdog.period_seconds


def test_contract_end_dates_are_parsed_strictly() -> None:
    from datetime import date

    from pipeline.jobs.retention import ended_contracts

    dates = [
        ("district_a", None, "2026-01-01"),
        ("school_a", "district_a", None),
        ("district_b", None, "31/12/2025"),
        ("district_c", None, "2026-02-30"),
        ("district_d", None, 20260101),
        ("district_e", None, "2027-01-01"),
    ]
    ended, unreadable = ended_contracts(dates, date(2026, 6, 1))
    assert ended == ["district_a", "school_a"]
    assert unreadable == ["district_b", "district_c", "district_d"]

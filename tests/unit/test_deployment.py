"""docker-compose.yml against the code it deploys, and the deployment guard of Settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipeline.settings import Settings
from pipeline.stages.limits import TIME_LIMITS
from pipeline.states import Stage
from workers.bulk import BULK_TIME_LIMIT_SECONDS
from workers.schedule import JOBS

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration))


def _hard_limit(queue: str) -> float:
    if queue == "bulk":
        return BULK_TIME_LIMIT_SECONDS
    if queue == "watchdog":
        return next(j.time_limit for j in JOBS if j.name == "watchdog")
    if queue == "maintenance":
        # Scheduled jobs work in committed batches and the next run picks up the rest
        # (pipeline/jobs/base.sweep): a stop costs at most one batch, so their hour-long
        # limits need no grace of an hour.
        return 0.0
    return TIME_LIMITS[Stage(queue)][1]


@pytest.mark.parametrize("service", [s for s in COMPOSE["services"] if s.startswith("worker-")])
def test_a_worker_stop_lets_its_longest_task_finish(service: str) -> None:
    spec = COMPOSE["services"][service]
    queues = spec["command"][spec["command"].index("-Q") + 1].split(",")
    grace = _seconds(spec["stop_grace_period"])
    assert grace >= max(_hard_limit(q) for q in queues), (service, queues)


def test_a_deploy_seeds_only_missing_catalog_rows() -> None:
    assert "vividly seed --catalog-only" in " ".join(COMPOSE["services"]["migrate"]["command"])


@pytest.mark.parametrize(
    "overrides",
    [
        {"database_url": "postgresql+asyncpg://vividly:vividly@postgres:5432/vividly"},
        {"flower_basic_auth": "ops:change-me"},
    ],
)
def test_production_refuses_the_example_passwords(overrides: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="example password"):
        Settings(vividly_env="production", **overrides)
    Settings(vividly_env="dev", **overrides)  # a local stack may use them


def test_signed_urls_are_bounded_to_what_v4_signing_allows() -> None:
    with pytest.raises(ValueError):
        Settings(signed_url_ttl_seconds=604_801)


def test_provider_timeouts_end_before_their_stages_soft_limits() -> None:
    """A slow provider answer must end as a transient error the task retries, not as a
    stage killed by its soft time limit."""
    s = Settings()
    assert s.gemini_timeout_seconds < TIME_LIMITS[Stage.nlu][0]
    assert s.gemini_script_timeout_seconds < TIME_LIMITS[Stage.script][0]
    from pipeline.providers.speech_google import REQUEST_TIMEOUT_SECONDS

    assert REQUEST_TIMEOUT_SECONDS < TIME_LIMITS[Stage.audio][0]

"""The workers' Prometheus endpoint, scraped after real pipeline runs on the test worker."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from pipeline.states import Status
from tests import fakes
from tests.support import TEST_ENV, WorkerProcess, wait_for
from tests.workers.helpers import fresh_topic, settle
from workers.app import QUEUES, app
from workers.metrics import SENT_AT_HEADER, message_age, queue_keys

pytestmark = pytest.mark.usefixtures("fakes")

STUDENT = "user_demo_student_1"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for (n, k), v in samples.items() if n == name}


def grown(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def scrape_until(url: str, condition: Callable[[Samples], bool], timeout: float = 20) -> Samples:
    """A stage records its metrics just after its row changes: poll until they show."""
    last: Samples = {}

    def ready() -> bool:
        nonlocal last
        last = scrape(url)
        return condition(last)

    try:
        wait_for(ready, timeout, interval=0.1)
    except AssertionError:
        pass  # the assertions below say what is missing
    return last


async def test_stage_cache_and_request_metrics_after_pipeline_runs(
    api, worker: WorkerProcess
) -> None:
    before = scrape(worker.metrics_url)

    _, query = fresh_topic()
    miss = await settle(await api.submit_request(STUDENT, query))
    hit = await settle(await api.submit_request(STUDENT, query))
    _, other = fresh_topic()
    fakes.set_failure("script", "permanent")
    failed = await settle(await api.submit_request(STUDENT, other))
    fakes.set_failure("script", None)
    _, third = fresh_topic()
    fakes.set_failure("speech", f"transient {fakes.calls('speech') + 1}")  # fails once more
    retried = await settle(await api.submit_request(STUDENT, third))
    assert [r["status"] for r in (miss, hit, failed, retried)] == [
        "completed",
        "completed",
        "failed",
        "completed",
    ]
    assert hit["cache_hit"] is True and retried["retry_count"] == 1

    count = "vividly_stage_duration_seconds_count"
    outcomes = "vividly_stage_outcomes_total"

    def all_recorded(s: Samples) -> bool:
        return (
            grown(before, s, outcomes, stage="video", outcome="ok", error_kind="none") >= 1
            and grown(before, s, outcomes, stage="script", outcome="failed", error_kind="permanent")
            >= 1
            and grown(before, s, "vividly_cache_lookups_total", result="miss") >= 3
            and grown(before, s, outcomes, stage="video", outcome="ok", error_kind="none") >= 2
        )

    after = scrape_until(worker.metrics_url, all_recorded)

    # Every stage of the two misses that completed ended ok; the hit and the failure ran
    # nlu and cache_check too; audio failed once (transient) and was retried.
    for stage, runs in (("nlu", 4), ("cache_check", 4), ("script", 2), ("audio", 2), ("video", 2)):
        assert grown(before, after, count, stage=stage, outcome="ok") >= runs, stage
        assert grown(before, after, outcomes, stage=stage, outcome="ok", error_kind="none") >= runs
    assert grown(before, after, count, stage="script", outcome="failed") >= 1
    assert grown(before, after, outcomes, stage="audio", outcome="retry", error_kind="none") >= 1
    assert (
        grown(before, after, outcomes, stage="script", outcome="failed", error_kind="permanent")
        >= 1
    )
    # The histogram's buckets cover 5 ms to 600 s and agree with its count.
    buckets = {
        dict(k)["le"]: v
        for (n, k), v in after.items()
        if n == "vividly_stage_duration_seconds_bucket"
        and dict(k)["stage"] == "nlu"
        and dict(k)["outcome"] == "ok"
    }
    assert {"0.005", "600.0", "+Inf"} <= set(buckets)
    assert buckets["+Inf"] == value(after, count, stage="nlu", outcome="ok")
    assert value(after, "vividly_stage_duration_seconds_sum", stage="video", outcome="ok") > 0

    # Cache lookups: three misses (all but the second request), one full hit.
    assert grown(before, after, "vividly_cache_lookups_total", result="miss") >= 3
    assert grown(before, after, "vividly_cache_lookups_total", result="full_hit") >= 1
    assert set(labelled(after, "vividly_cache_lookups_total", "result")) >= {
        "full_hit",
        "fast_path_hit",
        "joined",
        "miss",
    }

    # Gauges computed at scrape time in the main process.
    by_status = labelled(after, "vividly_requests", "status")
    assert set(by_status) == {str(s) for s in Status}
    assert by_status["completed"] >= 2 and by_status["failed"] >= 1
    assert set(labelled(after, "vividly_queue_depth", "queue")) == set(QUEUES)
    assert set(labelled(after, "vividly_queue_oldest_age_seconds", "queue")) == set(QUEUES)
    assert labelled(after, "vividly_metrics_source_up", "source") == {"database": 1, "broker": 1}


def consumers_of(queue: str) -> list[str]:
    active = app.control.inspect(timeout=2).active_queues() or {}
    return [host for host, qs in active.items() if any(q["name"] == queue for q in qs)]


def test_queue_depth_and_oldest_age_of_a_queue_nobody_consumes(worker: WorkerProcess) -> None:
    hosts = wait_for(lambda: consumers_of("maintenance"), 20)
    app.control.cancel_consumer("maintenance", destination=hosts, reply=True)
    broker = redis.Redis.from_url(TEST_ENV.redis_url)
    try:
        # A poll already waiting on the queue when the consumer was cancelled may still
        # take one message (up to kombu's 1 s BRPOP timeout): send again if it ran.
        for _ in range(3):
            counter = f"test:noop:{uuid.uuid4().hex}"
            app.send_task("ops.noop", args=[counter])
            waiting = wait_for(
                lambda counter=counter: (
                    broker.get(counter)
                    or value(scrape(worker.metrics_url), "vividly_queue_depth", queue="maintenance")
                    == 1
                ),
                20,
                interval=0.1,
            )
            if waiting is True:
                break
        else:
            raise AssertionError("the maintenance queue kept being consumed")

        def aged() -> Samples | None:
            s = scrape(worker.metrics_url)
            age = value(s, "vividly_queue_oldest_age_seconds", queue="maintenance")
            return s if age >= 0.3 else None

        sample = wait_for(aged, 10, interval=0.1)
        assert value(sample, "vividly_queue_depth", queue="maintenance") == 1
        assert value(sample, "vividly_queue_oldest_age_seconds", queue="maintenance") < 60
        for q in QUEUES:
            if q != "maintenance":
                assert value(sample, "vividly_queue_oldest_age_seconds", queue=q) == 0
    finally:
        for host in hosts:
            app.control.add_consumer("maintenance", destination=[host], reply=True)
    wait_for(lambda: broker.get(counter), 20)  # consumed again once the consumer is back
    after = scrape(worker.metrics_url)
    assert value(after, "vividly_queue_depth", queue="maintenance") == 0
    assert value(after, "vividly_queue_oldest_age_seconds", queue="maintenance") == 0


def test_message_age_from_header_eta_or_first_sight() -> None:
    now = time.time()
    stamped = json.dumps({"headers": {SENT_AT_HEADER: now - 5}, "properties": {}})
    assert message_age(stamped, now, {}, {}) == pytest.approx(5)

    eta = json.dumps(
        {
            "headers": {
                SENT_AT_HEADER: now - 5,
                "eta": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 2)),
            },
            "properties": {},
        }
    )
    assert message_age(eta, now, {}, {}) == pytest.approx(2, abs=1)

    # Published by a client without our signal handler: timed from first sight.
    bare = json.dumps({"headers": {"id": "t1"}, "properties": {"delivery_tag": "tag-1"}})
    seen: dict[str, float] = {}
    assert message_age(bare, now, {}, seen) == 0 and seen == {"tag-1": now}
    assert message_age(bare, now + 3, seen, {}) == pytest.approx(3)


def test_queue_keys_cover_kombu_priority_lists() -> None:
    assert queue_keys("nlu", {}) == ["nlu", "nlu\x06\x163", "nlu\x06\x166", "nlu\x06\x169"]
    assert queue_keys("nlu", {"priority_steps": [0], "global_keyprefix": "p:"}) == ["p:nlu"]


def test_beat_job_runs_and_their_last_success_are_exported(worker: WorkerProcess) -> None:
    """What the no-beat and watchdog alerts read (ops/prometheus/alerts.yml)."""
    before = scrape(worker.metrics_url)
    started = time.time()
    app.send_task("jobs.watchdog", kwargs={"manual": True})

    def ran(s: Samples) -> bool:
        return grown(before, s, "vividly_job_runs_total", job="watchdog", outcome="ok") >= 1

    after = scrape_until(worker.metrics_url, ran)
    assert ran(after)
    last = value(after, "vividly_job_last_success_timestamp_seconds", job="watchdog")
    assert started - 1 <= last <= time.time() + 1

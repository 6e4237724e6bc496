"""Prometheus metrics of the workers (prometheus-client in multiprocess mode).

Prefork children record stage timings, outcomes and cache results into per-process files
under PROMETHEUS_MULTIPROC_DIR; the worker's main process serves them, merged, on
http://{metrics_addr}:{metrics_port}/metrics together with gauges it computes at scrape
time (requests per status, queue depth and oldest waiting age per queue).

The directory must be in the environment before the first metric value is made and
before the pool forks, so `worker_init` (main process, before the fork) sets it up.
One directory per worker instance: the main process clears stale files at start.
"""

from __future__ import annotations

import asyncio
import functools
import glob
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, ParamSpec, cast

import redis
import structlog
from celery.signals import (
    before_task_publish,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from kombu.transport.redis import PRIORITY_STEPS, Channel
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server

from db.requests import COUNTS_BY_STATUS
from pipeline.settings import get_settings
from pipeline.states import Status
from workers.health import Probe, WsgiApp, with_health
from workers.routing import QUEUES

log = structlog.get_logger("vividly.metrics")
P = ParamSpec("P")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Stage targets run from 0.5 s (cache check) to 45 s (video), hard limits up to 600 s.
DURATION_BUCKETS_SECONDS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
)  # fmt: skip
CACHE_RESULTS = ("full_hit", "fast_path_hit", "joined", "miss")
# A scrape must answer well inside Prometheus's default 10 s scrape timeout even when the
# database or Redis hangs: each source gets this long, then reports itself down.
SOURCE_TIMEOUT_SECONDS = 2.0
# Published with every task message (before_task_publish): Celery's protocol 2 carries
# no send time, and the queue-age gauge needs one.
SENT_AT_HEADER = "sent_at"
# The providers behind workers/guard.py, and where purgatory keeps each breaker's state
# in Redis (its AsyncRedisRepository: a JSON object with state, opened_at and ttl).
GUARDED_PROVIDERS = ("gemini", "google_tts")
BREAKER_KEY_PREFIX = "cbr::"


def _never_raises(fn: Callable[P, None]) -> Callable[P, None]:
    """Metrics must never fail a stage or a publish."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as e:
            log.warning("metrics not recorded", where=fn.__name__, error_type=type(e).__name__)

    return wrapper


# ---- recorded in the pool children ---------------------------------------------------


class Instruments:
    def __init__(self) -> None:
        # registry=None: the values live in the multiprocess files, not in a registry of
        # this process; the main process reads them back with MultiProcessCollector.
        self.stage_duration = Histogram(
            "vividly_stage_duration_seconds",
            "Time one delivery of a stage's task took, by stage and outcome.",
            ["stage", "outcome"],
            buckets=DURATION_BUCKETS_SECONDS,
            registry=None,
        )
        self.stage_outcomes = Counter(
            "vividly_stage_outcomes",
            "Stage task deliveries by outcome (ok, skipped, stale, retry, failed) and, for "
            "failures, error kind (permanent, exhausted, internal; none otherwise).",
            ["stage", "outcome", "error_kind"],
            registry=None,
        )
        self.cache_lookups = Counter(
            "vividly_cache_lookups",
            "Cache-check decisions: full_hit, fast_path_hit, joined (single flight), miss.",
            ["result"],
            registry=None,
        )
        for result in CACHE_RESULTS:  # every series exists from the start, at zero
            self.cache_lookups.labels(result)
        self.provider_calls = Counter(
            "vividly_provider_calls",
            "Calls to external providers (gemini, google_tts) by outcome: ok, transient, "
            "permanent, or deferred (not made: breaker_open, rate_limited).",
            ["provider", "outcome"],
            registry=None,
        )
        self.provider_usage = Counter(
            "vividly_provider_usage",
            "What provider calls used: input_tokens, output_tokens (gemini), characters "
            "(google_tts).",
            ["provider", "measure"],
            registry=None,
        )
        self.provider_cost = Counter(
            "vividly_provider_cost_usd",
            "Estimated spend on provider calls (PRICE_TABLE), in USD.",
            ["provider"],
            registry=None,
        )
        self.job_runs = Counter(
            "vividly_job_runs",
            "Beat job runs by outcome: ok, dup (its schedule slot already ran), locked "
            "(another run held the job), failed.",
            ["job", "outcome"],
            registry=None,
        )
        # The newest across processes ("max"): what the no-beat alert compares with time().
        self.job_last_success = Gauge(
            "vividly_job_last_success_timestamp_seconds",
            "When each beat job last finished a run (Unix time).",
            ["job"],
            registry=None,
            multiprocess_mode="max",
        )
        self.watchdog_redispatches = Counter(
            "vividly_watchdog_redispatches",
            "Requests the watchdog sent again: dead_lease (their worker died) or lost "
            "(their message is gone).",
            ["reason"],
            registry=None,
        )


@functools.cache
def instruments() -> Instruments:
    """Made on first use, i.e. in a pool child after worker_init chose multiprocess mode."""
    return Instruments()


@_never_raises
def record_stage(stage: str, outcome: str, error_kind: str, seconds: float) -> None:
    m = instruments()
    m.stage_duration.labels(str(stage), outcome).observe(seconds)
    m.stage_outcomes.labels(str(stage), outcome, error_kind).inc()


@_never_raises
def record_job(job: str, outcome: str, details: dict[str, Any] | None = None) -> None:
    m = instruments()
    # The run is counted last: a scrape that sees it sees its time and its redispatches.
    if outcome in ("ok", "locked"):
        m.job_last_success.labels(job).set(time.time())
    for reason in ("dead_lease", "lost"):
        if details and details.get(reason):
            m.watchdog_redispatches.labels(reason).inc(details[reason])
    m.job_runs.labels(job, outcome).inc()


@_never_raises
def record_cache(result: str) -> None:
    instruments().cache_lookups.labels(result).inc()


@_never_raises
def record_provider_call(provider: str, outcome: str) -> None:
    instruments().provider_calls.labels(provider, outcome).inc()


@_never_raises
def record_provider_usage(provider: str, measure: str, amount: int, cost_usd: float) -> None:
    m = instruments()
    m.provider_usage.labels(provider, measure).inc(amount)
    if cost_usd:
        m.provider_cost.labels(provider).inc(cost_usd)


# ---- computed at scrape time in the worker's main process ----------------------------


def queue_keys(queue: str, transport_options: dict[str, Any]) -> list[str]:
    """The Redis lists kombu keeps for one queue: the queue name for priority 0 and
    "{queue}\\x06\\x16{step}" for the other priority steps (kombu.transport.redis)."""
    steps = transport_options.get("priority_steps", PRIORITY_STEPS)
    sep = transport_options.get("sep", Channel.sep)
    prefix = transport_options.get("global_keyprefix", "")
    return [f"{prefix}{queue}" + (f"{sep}{step}" if step else "") for step in steps]


def _eta_timestamp(eta: Any) -> float | None:
    try:
        return datetime.fromisoformat(eta).timestamp() if eta else None
    except (TypeError, ValueError):
        return None


def message_age(
    raw: bytes | str, now: float, first_seen: dict[str, float], seen_now: dict[str, float]
) -> float:
    """Seconds the message at a queue's tail (the next one out) has been waiting.

    From the sent_at header set at publish; a message published without it (another
    client) is timed from when this collector first saw it at the tail, a lower bound.
    A message with an ETA (a retry's countdown) waits only from its ETA on.
    """
    payload = json.loads(raw)
    headers = payload.get("headers") or {}
    sent_at = headers.get(SENT_AT_HEADER)
    if not isinstance(sent_at, int | float):
        tag = str((payload.get("properties") or {}).get("delivery_tag") or headers.get("id"))
        sent_at = seen_now[tag] = first_seen.get(tag, now)
    due = max(float(sent_at), _eta_timestamp(headers.get("eta")) or 0.0)
    return max(0.0, now - due)


async def _requests_by_status(database_url: str) -> dict[str, int]:
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn, timeout=SOURCE_TIMEOUT_SECONDS)
    try:
        rows = await conn.fetch(COUNTS_BY_STATUS, timeout=SOURCE_TIMEOUT_SECONDS)
    finally:
        await conn.close(timeout=SOURCE_TIMEOUT_SECONDS)
    return {status: count for status, count in rows}


class PipelineCollector:
    """Gauges read from the database and the broker each time Prometheus scrapes."""

    def __init__(self, database_url: str, broker_url: str, transport_options: dict[str, Any]):
        self.database_url = database_url
        self.transport_options = transport_options
        self.broker = redis.Redis.from_url(
            broker_url,
            socket_timeout=SOURCE_TIMEOUT_SECONDS,
            socket_connect_timeout=SOURCE_TIMEOUT_SECONDS,
        )
        self._first_seen: dict[str, float] = {}

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "vividly_metrics_source_up",
            "1 if the last scrape could read this source (database, broker), else 0.",
            labels=["source"],
        )
        for source, read in (("database", self._requests), ("broker", self._queues)):
            try:
                yield from read()
                up.add_metric([source], 1)
            except Exception as e:
                log.warning(
                    "metrics: source unreadable", source=source, error_type=type(e).__name__
                )
                up.add_metric([source], 0)
        yield up

    def _requests(self) -> Iterator[Metric]:
        # Each scrape runs in its own server thread, so a fresh event loop per scrape.
        counts = asyncio.run(_requests_by_status(self.database_url))
        g = GaugeMetricFamily(
            "vividly_requests",
            "Content requests (not deleted) in each status.",
            labels=["status"],
        )
        for status in Status:
            g.add_metric([str(status)], counts.get(str(status), 0))
        yield g

    def _queues(self) -> Iterator[Metric]:
        keys = {q: queue_keys(q, self.transport_options) for q in QUEUES}
        pipe = self.broker.pipeline(transaction=False)
        for q in QUEUES:
            for key in keys[q]:
                pipe.llen(key)
                pipe.lindex(key, -1)  # producers LPUSH, consumers BRPOP: the tail is oldest
        replies = iter(pipe.execute())
        now = time.time()
        seen_now: dict[str, float] = {}
        depth = GaugeMetricFamily(
            "vividly_queue_depth", "Messages waiting in each queue.", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "vividly_queue_oldest_age_seconds",
            "How long the next message of each queue has been waiting (0 when empty).",
            labels=["queue"],
        )
        for q in QUEUES:
            total, oldest = 0, 0.0
            for _ in keys[q]:
                length, tail = next(replies), next(replies)
                total += length
                if tail is not None:
                    oldest = max(oldest, message_age(tail, now, self._first_seen, seen_now))
            depth.add_metric([q], total)
            age.add_metric([q], oldest)
        self._first_seen = seen_now  # forget messages that left the tail
        yield depth
        yield age
        yield self._breakers(now)

    def _breakers(self, now: float) -> Metric:
        gauge = GaugeMetricFamily(
            "vividly_provider_breaker_open",
            "1 while a provider's circuit breaker is open (its calls are deferred), else 0.",
            labels=["provider"],
        )
        # A synchronous client: mget returns the values (redis-py types it for both kinds).
        raw = cast(
            list[bytes | None],
            self.broker.mget([f"{BREAKER_KEY_PREFIX}{p}" for p in GUARDED_PROVIDERS]),
        )
        for provider, data in zip(GUARDED_PROVIDERS, raw, strict=True):
            state = json.loads(data) if data else {}
            is_open = state.get("state") == "opened" and (
                float(state.get("opened_at") or 0) + float(state.get("ttl") or 0) > now
            )
            gauge.add_metric([provider], 1.0 if is_open else 0.0)
        return gauge


# ---- wiring: Celery signals ----------------------------------------------------------

_state: dict[str, Any] = {}


@before_task_publish.connect
def _stamp_sent_at(headers: dict[str, Any] | None = None, **_: object) -> None:
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())


@worker_init.connect
@_never_raises
def _prepare_multiprocess_dir(**_: object) -> None:
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        path = tempfile.mkdtemp(prefix="vividly-metrics-")
        os.environ[MULTIPROC_ENV] = path
        _state["owned_dir"] = path
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):  # a previous run's children
        os.remove(stale)
    # prometheus_client picks its value class when first imported, which may have been
    # before the directory was set: choose again, before any metric value exists.
    values.ValueClass = values.get_value_class()


@worker_ready.connect
@_never_raises
def _serve(sender: Any = None, **_: object) -> None:
    """In the main process, after the pool started (children do not hold the socket)."""
    if MULTIPROC_ENV not in os.environ or "server" in _state:
        return
    app = sender.app
    settings = get_settings()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(
        PipelineCollector(
            settings.database_url,
            app.conf.broker_url,
            dict(app.conf.broker_transport_options or {}),
        )
    )
    try:
        server, _thread = start_http_server(
            settings.metrics_port, addr=settings.metrics_addr, registry=registry
        )
    except OSError as e:  # e.g. the port is taken: the worker is still useful without it
        log.error(
            "metrics endpoint not started",
            port=settings.metrics_port,
            address=settings.metrics_addr,
            error=str(e),
        )
        return
    # /healthz and /readyz beside /metrics (workers/health.py), on the same port.
    # wsgiref types its app as optional; start_http_server always made it with one.
    server.set_app(with_health(cast(WsgiApp, server.get_app()), Probe(settings)))
    _state["server"] = server
    log.info("metrics endpoint started", port=settings.metrics_port, address=settings.metrics_addr)


@worker_process_init.connect
@_never_raises
def _drop_inherited_socket(**_: object) -> None:
    """A child forked later (a replaced process) inherits the listening socket; it must
    not keep the port bound if the main process dies."""
    server = _state.pop("server", None)
    if server is not None:
        server.socket.close()


@worker_process_shutdown.connect
@_never_raises
def _mark_dead(pid: int | None = None, **_: object) -> None:
    if pid is not None and os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


@worker_shutdown.connect
@_never_raises
def _stop_serving(**_: object) -> None:
    server = _state.pop("server", None)
    if server is not None:
        server.shutdown()
        server.server_close()
    owned = _state.pop("owned_dir", None)
    if owned:
        shutil.rmtree(owned, ignore_errors=True)

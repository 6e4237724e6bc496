"""One trace per request across the broker: the submit's span in this process (an
in-memory exporter), the stage and provider spans in a real worker process (the real
OTLP/HTTP exporter, to a local collector stand-in), linked by the trace context in the
task messages' headers. Ids and stage names only: no student text in any span."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests import fakes
from tests.otlp_standin import otlp_collector
from tests.support import WorkerProcess, spare_redis_db
from tests.workers.helpers import fresh_pair, settle
from workers.client import VividlyClient

pytestmark = pytest.mark.usefixtures("fakes")

STAGES = ["stage nlu", "stage cache_check", "stage script", "stage audio", "stage video"]


@pytest.fixture(scope="session")
def submit_spans() -> InMemorySpanExporter:
    """This process's tracer provider, once per session (OpenTelemetry allows one)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


async def test_a_request_is_one_trace_from_submit_to_video(submit_spans, pipeline_db) -> None:
    submit_spans.clear()
    with otlp_collector() as collector, spare_redis_db() as broker:
        env = {
            "REDIS_URL": broker,
            "TRACE_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        with WorkerProcess.start(queues="video,audio,script,nlu", env=env):
            query, interest = fresh_pair()  # a cache miss: every stage runs
            async with VividlyClient(broker_url=broker) as client:
                rid = await client.submit("user_demo_student_1", query, interest_id=interest)
                assert (await settle(rid))["status"] == "completed"
            deadline = time.monotonic() + 20
            while len([s for s in collector.received() if s.name in STAGES]) < len(STAGES):
                assert time.monotonic() < deadline, [s.name for s in collector.received()]
                await asyncio.sleep(0.05)
    (submit,) = [s for s in submit_spans.get_finished_spans() if s.name == "submit"]
    assert submit.attributes["vividly.request_id"] == rid
    trace_id = format(submit.context.trace_id, "032x")
    spans = [s for s in collector.received() if s.trace_id == trace_id]
    stages = sorted((s for s in spans if s.name in STAGES), key=lambda s: s.start_ns)
    assert [s.name for s in stages] == STAGES
    # Each stage's span is the child of the one that sent its task: a chain from submit.
    parents = [format(submit.context.span_id, "016x"), *(s.span_id for s in stages[:-1])]
    assert [s.parent_span_id for s in stages] == parents
    assert all(s.attributes["vividly.request_id"] == rid for s in stages)
    assert [s.attributes["vividly.stage"] for s in stages] == [n.split()[1] for n in STAGES]
    # A span for each provider call, inside its stage's span.
    by_id = {s.span_id: s for s in stages}
    calls = {s.name: by_id[s.parent_span_id].name for s in spans if s.name.startswith("provider")}
    assert calls == {
        "provider nlu": "stage nlu",
        "provider script": "stage script",
        "provider speech": "stage audio",
        "provider video": "stage video",
    }
    assert {s.service for s in stages} == {"vividly-worker-audio-nlu-script-video"}
    text = json.dumps([s.attributes for s in spans]) + json.dumps(dict(submit.attributes))
    assert query not in text and "explain" not in text
    assert fakes.calls("script") == 1

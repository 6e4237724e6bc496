"""Traces: one per request, across the broker. OpenTelemetry spans for the submit, each
stage task and each provider call, linked through the W3C trace context carried in the
task message's headers (never in its arguments, which stay one request id).

TRACE_EXPORTER picks where spans go: "none" (the default: the API is a no-op), "otlp"
(OTLP over HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, e.g. a collector, Tempo or Jaeger), or
"console". Each process sets its own tracer provider up (a worker's pool children after
the fork, whose batch exporter thread a fork would not carry over) and flushes it at exit.
Spans carry ids and stage names, never student text.
"""

from __future__ import annotations

import functools
from typing import Any

import structlog
from celery.signals import before_task_publish
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter

log = structlog.get_logger("vividly.tracing")

tracer = trace.get_tracer("vividly.workers")
_state: dict[str, Any] = {}


def configure(exporter: str, service: str) -> None:
    """Set this process's tracer provider up once (nothing for "none")."""
    if exporter == "none" or "provider" in _state:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _state["provider"] = provider
    log.info("tracing on", exporter=exporter)


def shutdown() -> None:
    provider = _state.pop("provider", None)
    if provider is not None:
        provider.shutdown()  # flushes what is batched


def context_from(request: Any) -> Context:
    """The trace context a task message carried in its headers (Celery exposes the
    message headers as attributes of task.request)."""
    return propagate.extract(request, getter=_RequestGetter())


class _RequestGetter(Getter[Any]):
    def get(self, carrier: Any, key: str) -> list[str] | None:
        value = getattr(carrier, key, None)
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Any) -> list[str]:
        return [k for k in ("traceparent", "tracestate") if getattr(carrier, k, None)]


@before_task_publish.connect
def _inject(headers: dict[str, Any] | None = None, **_: object) -> None:
    """Every message sent while a span is current carries that span's context."""
    if headers is not None:
        propagate.inject(headers)


@functools.cache
def service_name(queues: frozenset[str]) -> str:
    return "vividly-worker-" + "-".join(sorted(queues)) if queues else "vividly-worker"

"""A span for each provider call (NLU, script, speech, video): its name and how long it
took, inside the stage's span. Attributes are the provider's kind and class, never the
text it was given."""

from __future__ import annotations

import functools
from typing import Any

from opentelemetry import trace

tracer = trace.get_tracer("vividly.providers")

# The one method of each provider protocol that calls out.
CALLS = {"nlu": "understand", "script": "write", "speech": "synthesize", "video": "render"}


class Traced:
    """Wraps a provider: its call runs in a span named "provider {kind}"."""

    def __init__(self, kind: str, provider: Any) -> None:
        self._kind = kind
        self._provider = provider
        self._method = CALLS[kind]

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._provider, name)
        if name != self._method:
            return attr

        @functools.wraps(attr)
        async def call(*args: Any, **kwargs: Any) -> Any:
            attributes = {
                "vividly.provider": self._kind,
                "vividly.provider_class": type(self._provider).__name__,
            }
            with tracer.start_as_current_span(f"provider {self._kind}", attributes=attributes):
                return await attr(*args, **kwargs)

        return call

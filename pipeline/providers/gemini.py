"""One structured call to Gemini (google-genai, async client), shared by the NLU and the
script writer: a prompt in, a pydantic model out, or a stage error that says what to do.

Failure semantics: a timeout, 429 or 5xx is transient (the task layer retries with
backoff, and no sooner than the Retry-After the service sent); 400 and other 4xx are
permanent; a safety block (prompt feedback `blockReason`, or finish reason SAFETY) ends
the request with a clear sentence and is never retried. Only what the call needs is
sent: the caller's prompt holds the redacted query, grade band, catalog facts and the
interest's name, never the student's name, id, e-mail or school.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2 as httpx  # google-genai's HTTP client (a fork of httpx)
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel, ValidationError

from pipeline.errors import PermanentStageError, SafetyDeclined, TransientStageError
from pipeline.providers.protocols import NoGuard, ProviderGuard

M = TypeVar("M", bound=BaseModel)

MAX_RETRY_AFTER_SECONDS = 600.0
PROVIDER_SAFETY = "provider_safety"
PROVIDER_SAFETY_MESSAGE = (
    "The AI service declined this request under its safety rules; ask about the science "
    "instead, or talk to a trusted adult if you need help."
)


class InvalidOutput(Exception):
    """The model answered, but not with what the schema asks; `errors` says where."""

    def __init__(self, errors: str) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class Usage:
    model: str
    input_tokens: int
    output_tokens: int


class GeminiCaller:
    PROVIDER = "gemini"

    def __init__(self, client: genai.Client, model: str, timeout_seconds: float) -> None:
        self._client = client
        self.model = model
        self._timeout_ms = int(timeout_seconds * 1000)
        self.guard: ProviderGuard = NoGuard()

    def use_guard(self, guard: ProviderGuard) -> None:
        """The worker's breaker and rate limit (workers/guard.py), for every call."""
        self.guard = guard

    async def generate(
        self, system: str, prompt: str, schema: type[M], temperature: float = 0.2
    ) -> tuple[M, Usage]:
        """The model's answer to `prompt`, validated as `schema` (InvalidOutput if not)."""
        config = types.GenerateContentConfig(
            system_instruction=system,
            response_mime_type="application/json",
            response_schema=schema,
            temperature=temperature,
            http_options=types.HttpOptions(timeout=self._timeout_ms),
        )

        async def call() -> types.GenerateContentResponse:
            try:
                return await self._client.aio.models.generate_content(
                    model=self.model, contents=prompt, config=config
                )
            except genai_errors.APIError as e:
                raise _stage_error(e) from None
            except (httpx.TimeoutException, httpx.TransportError, TimeoutError) as e:
                raise TransientStageError(
                    f"the AI service did not answer ({type(e).__name__})"
                ) from None

        response = await self.guard.call(self.PROVIDER, call)
        _refuse_if_blocked(response)
        usage = response.usage_metadata
        spent = Usage(
            self.model,
            int(getattr(usage, "prompt_token_count", 0) or 0),
            int(getattr(usage, "candidates_token_count", 0) or 0),
        )
        self.guard.count(self.PROVIDER, "input_tokens", spent.input_tokens)
        self.guard.count(self.PROVIDER, "output_tokens", spent.output_tokens)
        text = response.text or ""
        try:
            return schema.model_validate(json.loads(text)), spent
        except json.JSONDecodeError as e:
            raise InvalidOutput(f"not JSON ({e.msg} at character {e.pos})") from None
        except ValidationError as e:
            # Field paths and messages only: pydantic's input values could be anything.
            raise InvalidOutput(
                "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            ) from None


def _refuse_if_blocked(response: Any) -> None:
    feedback = getattr(response, "prompt_feedback", None)
    if feedback is not None and getattr(feedback, "block_reason", None):
        raise SafetyDeclined(PROVIDER_SAFETY_MESSAGE, PROVIDER_SAFETY)
    for candidate in getattr(response, "candidates", None) or []:
        reason = getattr(candidate, "finish_reason", None)
        if reason is not None and str(getattr(reason, "value", reason)) in (
            "SAFETY",
            "PROHIBITED_CONTENT",
            "BLOCKLIST",
            "SPII",
        ):
            raise SafetyDeclined(PROVIDER_SAFETY_MESSAGE, PROVIDER_SAFETY)


def _stage_error(e: genai_errors.APIError) -> PermanentStageError | TransientStageError:
    code = int(e.code or 0)
    if code == 429 or code >= 500 or code == 408:
        return TransientStageError(
            f"the AI service is unavailable (HTTP {code})", retry_after=_retry_after(e)
        )
    return PermanentStageError(f"the AI service refused the request (HTTP {code})")


def _retry_after(e: genai_errors.APIError) -> float | None:
    headers = getattr(getattr(e, "response", None), "headers", None) or {}
    raw = headers.get("retry-after") if hasattr(headers, "get") else None
    try:
        return min(float(raw), MAX_RETRY_AFTER_SECONDS) if raw else None
    except ValueError:
        return None  # an HTTP date: the backoff decides


def open_gemini(
    api_key: str | None, model: str, timeout_seconds: float, base_url: str | None = None
) -> GeminiCaller:
    options = types.HttpOptions(base_url=base_url) if base_url else None
    client = genai.Client(api_key=api_key or "unset", http_options=options)
    return GeminiCaller(client, model, timeout_seconds)

"""Gemini NLU: one structured call picks the topic from candidates the embedded resolver
ranked (its top leaf topics), names the interest if the query does, and
for a vague query asks a clarification with 2-4 of the candidates.

The model chooses from the catalog only: an id it invents is refused, the call is
repaired once with the errors, and after that the embedded resolver's own answer is
used, so a model's slip never fails a student's question.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import structlog
from pydantic import BaseModel, Field

from pipeline.catalog import Catalog
from pipeline.providers.gemini import GeminiCaller, InvalidOutput
from pipeline.providers.protocols import (
    ProviderGuard,
    TopicOption,
    TopicResolver,
    Understanding,
)

log = structlog.get_logger("vividly.nlu")

PROMPT_VERSION = "nlu-1"
CANDIDATES = 8

SYSTEM = (
    "You map a high-school student's STEM question to one topic of a fixed catalog. "
    "Choose topic_id only from the candidate ids given, never another. If the question "
    "is too vague to choose, set topic_id to null, ask one short clarification question "
    "and give 2 to 4 candidate ids as option_topic_ids. If the question names one of the "
    "listed interests, give its id as interest_id. confidence is your probability (0-1) "
    "that topic_id is what the student means."
)


class NluAnswer(BaseModel):
    topic_id: str | None = None
    confidence: float = Field(ge=0.0, le=1.0)
    interest_id: str | None = None
    clarification_question: str | None = Field(default=None, max_length=300)
    option_topic_ids: list[str] = Field(default_factory=list, max_length=4)


class GeminiTopicResolver:
    def __init__(
        self,
        caller: GeminiCaller,
        fallback: TopicResolver,
        rank: Callable[[str, Catalog], list[tuple[str, float]]],
        confidence_threshold: float,
    ) -> None:
        self._caller = caller
        self._fallback = fallback
        self._rank = rank
        self._threshold = confidence_threshold

    def use_guard(self, guard: ProviderGuard) -> None:
        self._caller.use_guard(guard)

    async def understand(self, query: str, catalog: Catalog) -> Understanding:
        ranked = await asyncio.to_thread(self._rank, query, catalog)
        candidates = _candidates(ranked, catalog)
        prompt = json.dumps(
            {
                "question": query,
                "candidates": [
                    {
                        "id": t,
                        "title": catalog.topics[t].title,
                        "subject": catalog.topics[t].subject,
                    }
                    for t in candidates
                ],
                "interests": [{"id": i.id, "name": i.name} for i in catalog.interests.values()],
            }
        )
        errors = ""
        for attempt in (1, 2):
            text = prompt if attempt == 1 else f"{prompt}\nYour last answer was invalid: {errors}"
            try:
                answer, _ = await self._caller.generate(SYSTEM, text, NluAnswer)
                return self._understanding(answer, candidates, catalog)
            except InvalidOutput as e:
                errors = e.errors
        log.warning("gemini nlu output invalid twice; embedded resolver used", errors=errors)
        return await self._fallback.understand(query, catalog)

    def _understanding(
        self, answer: NluAnswer, candidates: list[str], catalog: Catalog
    ) -> Understanding:
        allowed = set(candidates)
        if answer.topic_id is not None and answer.topic_id not in allowed:
            raise InvalidOutput("topic_id: not one of the candidate ids")
        unknown = [t for t in answer.option_topic_ids if t not in allowed]
        if unknown:
            raise InvalidOutput("option_topic_ids: not all are candidate ids")
        interest = answer.interest_id if answer.interest_id in catalog.interests else None
        if answer.topic_id is not None and answer.confidence >= self._threshold:
            return Understanding(answer.topic_id, answer.confidence, interest)
        options = answer.option_topic_ids or candidates[:3]
        if answer.topic_id is not None and answer.topic_id not in options:
            options = [answer.topic_id, *options][:4]
        return Understanding(
            None,
            answer.confidence,
            interest,
            options=[TopicOption(t, catalog.topics[t].title, answer.confidence) for t in options],
            question=answer.clarification_question or "Which of these did you mean?",
        )


def _candidates(ranked: list[tuple[str, float]], catalog: Catalog) -> list[str]:
    """The top-ranked leaf topics, best first."""
    leaves = [t for t, _ in ranked if t in catalog.topics and catalog.topics[t].is_leaf]
    return leaves[:CANDIDATES]

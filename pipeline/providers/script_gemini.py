"""Gemini script writer: the same Lesson the template writer makes, written by the model
from the topic's catalog facts (it is told to stay within them), for the topic's grade
band, in the requested style, with an analogy from the student's interest per section.

The output is validated (schema, 60-180 s of narration at ~150 words per minute, one
right answer); one repair attempt sends the errors back; after that the stage fails for
good with a sentence an operator can act on. The lesson still passes the safety gate
before speech (the audio stage).
"""

from __future__ import annotations

import json

from pydantic import BaseModel, Field

from pipeline.cache import GEMINI_SCRIPT_PROMPT_VERSION
from pipeline.catalog import InterestInfo, TopicInfo
from pipeline.errors import PermanentStageError
from pipeline.lesson import WORDS_PER_MINUTE, CheckQuestion, Lesson, Section, written_for
from pipeline.providers.gemini import GeminiCaller, InvalidOutput
from pipeline.providers.protocols import ProviderGuard

PROMPT_VERSION = GEMINI_SCRIPT_PROMPT_VERSION
MIN_SECONDS, MAX_SECONDS = 60.0, 180.0
MIN_WORDS = round(MIN_SECONDS * WORDS_PER_MINUTE / 60)
MAX_WORDS = round(MAX_SECONDS * WORDS_PER_MINUTE / 60)

STYLE_GUIDE = {
    "conversational": "friendly and direct, as a good teacher talks to one student",
    "simpler": "short sentences and everyday words; one idea at a time",
    "detailed": "precise, with the key quantities and why they matter",
    "storytelling": "a short story that carries the ideas",
}

SYSTEM = (
    "You write short spoken science lessons for high-school students. Use only the facts "
    "given; do not add claims beyond them. Write 3 to 7 sections; each section's narration "
    f"uses one analogy from the student's interest. Narration in total: {MIN_WORDS} to "
    f"{MAX_WORDS} words. "
    "End with a recap and one multiple-choice check question with exactly one right "
    "answer (answer_index is its position in options). No names of real students, no "
    "personal questions."
)


class LessonDraft(BaseModel):
    """What the model writes: a Lesson's own parts (its sections and check question are
    the Lesson's models, validators included), without what the pipeline already knows."""

    title: str = Field(min_length=1, max_length=160)
    hook: str = Field(min_length=1)
    sections: list[Section] = Field(min_length=3, max_length=7)
    recap: str = Field(min_length=1)
    check_question: CheckQuestion


class GeminiScriptWriter:
    def __init__(self, caller: GeminiCaller) -> None:
        self._caller = caller

    def use_guard(self, guard: ProviderGuard) -> None:
        self._caller.use_guard(guard)

    async def write(self, topic: TopicInfo, interest: InterestInfo, style: str) -> Lesson:
        about = written_for(topic, interest, style)
        prompt = json.dumps(
            {
                "topic": topic.title,
                "description": topic.description,
                "facts": list(topic.facts),
                "grade_band": about["grade_band"],
                "style": STYLE_GUIDE.get(style, STYLE_GUIDE["conversational"]),
                "interest": interest.name,
                "interest_analogies": list(interest.analogies),
            }
        )
        errors = ""
        input_tokens = output_tokens = 0  # a repair's included
        for attempt in (1, 2):
            text = prompt if attempt == 1 else f"{prompt}\nYour last answer was invalid: {errors}"
            try:
                draft, usage = await self._caller.generate(SYSTEM, text, LessonDraft)
                input_tokens += usage.input_tokens
                output_tokens += usage.output_tokens
                lesson = _lesson(draft, about)
            except InvalidOutput as e:
                errors = e.errors
                continue
            lesson.provenance = {
                "provider": "gemini",
                "model": self._caller.model,
                "prompt_version": PROMPT_VERSION,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "attempts": attempt,
            }
            return lesson
        raise PermanentStageError(
            f"The script model ({self._caller.model}, prompt {PROMPT_VERSION}) gave an invalid "
            f"lesson twice ({errors}); check the model setting, then retry the request."
        )


def _lesson(draft: LessonDraft, about: dict[str, str]) -> Lesson:
    lesson = Lesson.model_validate({**draft.model_dump(), **about})
    seconds = lesson.estimated_seconds()
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        words = round(seconds * WORDS_PER_MINUTE / 60)
        raise InvalidOutput(f"narration: {words} words; write {MIN_WORDS} to {MAX_WORDS}")
    return lesson

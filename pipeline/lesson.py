"""The lesson script: the JSON document stored as content/{cache_key}/script.json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from pipeline.catalog import InterestInfo, TopicInfo

# Narration length limits: the product asks for 60-180 s lessons.
MIN_NARRATION_SECONDS = 60
MAX_NARRATION_SECONDS = 180
# espeak-ng and typical TTS voices read about 160 words a minute.
WORDS_PER_MINUTE = 160


def written_for(topic: TopicInfo, interest: InterestInfo, style: str) -> dict[str, str]:
    """What ties a lesson to its cache key and what its slides show, as Lesson fields. The
    band is the topic's, never one student's grade: a cached lesson serves every student
    whose request has the same topic|interest|style key."""
    lo, hi = topic.grade_level_min, topic.grade_level_max
    return {
        "topic_id": topic.id,
        "interest_id": interest.id,
        "style": style,
        "grade_band": f"grade {lo}" if lo == hi else f"grades {lo}-{hi}",
        "subject": topic.subject,
        "interest_name": interest.name,
    }


class Section(BaseModel):
    heading: str = Field(min_length=1, max_length=120)
    narration: str = Field(min_length=1)
    caption: str = Field(min_length=1, max_length=160)


class CheckQuestion(BaseModel):
    question: str = Field(min_length=1)
    options: list[str] = Field(min_length=2, max_length=5)
    answer_index: int = Field(ge=0)


class Lesson(BaseModel):
    title: str = Field(min_length=1, max_length=160)
    topic_id: str
    interest_id: str
    style: str
    grade_band: str
    # What the slides show: the subject sets the colours, the interest is named and drawn.
    # Empty in scripts stored before they were written.
    subject: str = ""
    interest_name: str = ""
    hook: str = Field(min_length=1)
    sections: list[Section] = Field(min_length=3, max_length=7)
    recap: str = Field(min_length=1)
    check_question: CheckQuestion
    # Who wrote it: provider, and for a model its name, prompt version and tokens spent.
    provenance: dict[str, Any] = Field(default_factory=dict)

    @field_validator("check_question")
    @classmethod
    def _answer_in_range(cls, v: CheckQuestion) -> CheckQuestion:
        if v.answer_index >= len(v.options):
            raise ValueError("answer_index is not one of the options")
        return v

    def narration_parts(self) -> list[str]:
        """Spoken text in order: hook, each section, recap, the question."""
        return [
            self.hook,
            *(s.narration for s in self.sections),
            self.recap,
            self.check_question.question,
        ]

    def narration(self) -> str:
        return "\n\n".join(self.narration_parts())

    def estimated_seconds(self) -> float:
        return len(self.narration().split()) * 60.0 / WORDS_PER_MINUTE

"""What API services get back: a request as a typed view, and its progress events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class Clarification(BaseModel):
    question: str | None
    options: list[dict[str, Any]] = []


# The fields of a RequestView that locate the lesson's content, in the order of its making.
CONTENT_LOCATIONS = (
    "script_url",
    "audio_url",
    "video_url",
    "thumbnail_url",
    "captions_url",
    "transcript_url",
    "lesson_page_url",
)


class RequestView(BaseModel):
    """A request as `get_request` shows it: its status, its outputs and why it failed.
    No student text: the query stays in the database."""

    model_config = ConfigDict(frozen=True)

    id: str
    student_id: str
    status: str
    topic_id: str | None = None
    interest_id: str | None = None
    style: str | None = None
    cache_hit: bool | None = None
    generated_content_id: str | None = None
    error_message: str | None = None
    retry_count: int | None = None
    content_type: str | None = None
    script_url: str | None = None
    audio_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    captions_url: str | None = None
    transcript_url: str | None = None
    lesson_page_url: str | None = None
    duration_seconds: int | None = None
    content_review: str | None = None  # the lesson's manual_review_status
    notice: str | None = None  # for the student: e.g. the lesson is being reviewed
    failed_stage: str | None = None
    cancel_requested: bool = False  # asked for; the request may still be finishing
    cancelled: dict[str, Any] | None = None  # {"at", "stage"} once it ended cancelled
    clarification: Clarification | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    signed_urls: dict[str, str] | None = None

    @property
    def content(self) -> dict[str, str]:
        """The locations the request has so far, by name (as progress events carry them)."""
        found = {n: getattr(self, n) for n in CONTENT_LOCATIONS if getattr(self, n)}
        if self.content_type:
            found["content_type"] = self.content_type
        return found


class RequestEvent(BaseModel):
    """A committed status change of one request (`from_status` None: its state when the
    subscription began). Content locations once there is content; never student text."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    from_status: str | None
    to_status: str
    at: datetime
    content: dict[str, str] | None = None

    @property
    def terminal(self) -> bool:
        return self.to_status in ("completed", "failed")

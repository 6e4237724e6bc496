"""The scenes of a lesson video, from sentence timings (no media work)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.lesson import Lesson
from pipeline.providers.protocols import SpokenSentence
from pipeline.providers.slide_timeline import (
    ANSWER_SECONDS,
    THINK_SECONDS,
    SceneKind,
    timeline,
    video_seconds,
)
from pipeline.providers.spoken import estimated_sentences, split_sentences

LESSON = Lesson(
    title="Why a straw looks bent",
    topic_id="physics.optics.refraction",
    interest_id="skateboarding",
    style="conversational",
    grade_band="grades 9-12",
    hook="Ever rolled from concrete onto grass? Your board swings sideways.",
    sections=[
        {"heading": f"Part {n}", "narration": text, "caption": f"Key {n}"}
        for n, text in enumerate(
            [
                "Light travels fast through air but slower through water. It slows at the surface.",
                "The side of the beam that enters first slows first, so the beam turns toward "
                "the normal, like a skateboard whose front wheel hits the grass before the "
                "other one does and drags the whole board around with it as it goes.",
                "Your brain assumes light travels in straight lines.",
            ]
        )
    ],
    recap="Light bends when it changes speed.",
    check_question={"question": "Why?", "options": ["Speed", "Magic"], "answer_index": 0},
)


def test_slides_follow_the_paragraphs_and_end_with_the_answer() -> None:
    narration = 60.0
    scenes = timeline(LESSON, estimated_sentences(LESSON.narration(), narration), narration)
    assert scenes[0].start_seconds == 0 and scenes[0].kind is SceneKind.title
    assert [s.slide for s in scenes] == sorted(s.slide for s in scenes)
    kinds = [s.kind for s in scenes]
    assert kinds.count(SceneKind.thinking) == THINK_SECONDS
    assert kinds[-1] is SceneKind.answer
    assert scenes[-1].start_seconds == narration + THINK_SECONDS
    assert video_seconds(narration) == narration + THINK_SECONDS + ANSWER_SECONDS
    # Each section's slide builds up: its scenes reveal a growing text.
    second = [s for s in scenes if s.kind is SceneKind.section and s.slide == 2]
    revealed = [" ".join(s.revealed) for s in second]
    assert len(second) >= 3
    assert all(b.startswith(a) for a, b in zip(revealed, revealed[1:], strict=False))
    assert revealed[-1] == " ".join(t for p, t in split_sentences(LESSON.narration()) if p == 2)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.2, 12.0), min_size=1, max_size=3),
    st.floats(0.0, 1.0),
)
def test_no_scene_lasts_longer_than_8_seconds(pace: list[float], pause: float) -> None:
    """Whatever the pace of the voice, within a pause of a second between sentences the
    picture changes at least every 8 s (a caption cue lasts at most 7 s)."""
    spans, t = [], 0.0
    for i, (paragraph, text) in enumerate(split_sentences(LESSON.narration())):
        seconds = len(text.split()) / (1.0 + pace[i % len(pace)])
        spans.append(SpokenSentence(text, paragraph, t, t + seconds))
        t += seconds + pause
    scenes = timeline(LESSON, spans, t)
    starts = [s.start_seconds for s in scenes] + [video_seconds(t)]
    assert max(b - a for a, b in zip(starts, starts[1:], strict=False)) <= 8.0

"""When the picture changes: the scenes of a lesson video, from the narration's timing.

Slide p shows paragraph p of the narration (hook, each section, recap, question). Within
a slide, each caption cue adds its words when they are said, so the slide builds up as
it is spoken and never stands still longer than a cue (7 s). After the narration, the
question stays with a countdown, then its answer.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipeline import captions
from pipeline.lesson import Lesson
from pipeline.providers.protocols import SpokenSentence

THINK_SECONDS = 4  # the question and its options, counting down
ANSWER_SECONDS = 4  # then the right option


class SceneKind(enum.Enum):
    title = "title"
    section = "section"
    recap = "recap"
    question = "question"
    thinking = "thinking"
    answer = "answer"


@dataclass(frozen=True)
class Scene:
    start_seconds: float
    kind: SceneKind
    slide: int  # 0 title, 1..n the sections, n+1 recap, n+2 the question
    revealed: tuple[str, ...] = ()  # what has been said on this slide so far
    countdown: int = 0


def video_seconds(narration_seconds: float) -> float:
    return narration_seconds + THINK_SECONDS + ANSWER_SECONDS


def timeline(
    lesson: Lesson, sentences: Sequence[SpokenSentence], narration_seconds: float
) -> list[Scene]:
    """The scenes in order of their start (the first at 0)."""
    last_slide = len(lesson.sections) + 2
    by_slide: dict[int, list[SpokenSentence]] = {}
    for sentence in sentences:
        by_slide.setdefault(min(sentence.paragraph, last_slide), []).append(sentence)
    scenes: list[Scene] = []
    for slide in sorted(by_slide):
        spoken = by_slide[slide]
        start = 0.0 if not scenes else spoken[0].start_seconds
        kind = _kind(slide, last_slide)
        _add(scenes, Scene(start, kind, slide))
        if kind is SceneKind.question:
            continue
        said: list[str] = []
        for sentence in spoken:
            words: list[str] = []
            for cue in captions.cues([sentence], narration_seconds):
                words.append(cue.text)
                revealed = (*said, " ".join(words))
                _add(scenes, Scene(max(cue.start_seconds, start), kind, slide, revealed))
            said.append(sentence.text)
    if not scenes:
        scenes.append(Scene(0.0, SceneKind.title, 0))
    for second in range(THINK_SECONDS):
        countdown = THINK_SECONDS - second
        _add(
            scenes, Scene(narration_seconds + second, SceneKind.thinking, last_slide, (), countdown)
        )
    _add(scenes, Scene(narration_seconds + THINK_SECONDS, SceneKind.answer, last_slide))
    return scenes


def _kind(slide: int, last_slide: int) -> SceneKind:
    if slide == 0:
        return SceneKind.title
    if slide == last_slide:
        return SceneKind.question
    return SceneKind.recap if slide == last_slide - 1 else SceneKind.section


def _add(scenes: list[Scene], scene: Scene) -> None:
    """A scene that starts when the previous one does replaces it."""
    if scenes and scene.start_seconds <= scenes[-1].start_seconds:
        scenes[-1] = replace(scene, start_seconds=scenes[-1].start_seconds)
    else:
        scenes.append(scene)

"""Offline script writer: a deterministic lesson from the topic's description and teaching
facts, the grade band, and the interest's analogies. Same inputs, same lesson."""

from __future__ import annotations

import hashlib

from pipeline.catalog import InterestInfo, TopicInfo
from pipeline.lesson import (
    MAX_NARRATION_SECONDS,
    MIN_NARRATION_SECONDS,
    CheckQuestion,
    Lesson,
    Section,
    written_for,
)

# Wrong answers for the check question when no other topics' facts are at hand.
GENERIC_DISTRACTORS = (
    "It only applies to objects far out in space.",
    "It stops being true at room temperature.",
    "Scientists abandoned the idea more than a century ago.",
    "It depends only on the colour of the objects involved.",
)
GENERIC_ANALOGIES = (
    "something you do every day",
    "a moment you have seen a hundred times",
    "a small everyday experiment",
)


def _pick(items: tuple[str, ...] | list[str], seed: str, n: int) -> list[str]:
    """n items chosen deterministically from `items` by a hash of `seed`."""
    if not items:
        return []
    start = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(items)
    return [items[(start + i) % len(items)] for i in range(n)]


def _caption(text: str, limit: int = 150) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


class TemplateScriptWriter:
    """ScriptWriter that needs no network: facts come from the topics table."""

    def __init__(self, distractor_pool: tuple[str, ...] = ()) -> None:
        self.distractor_pool = distractor_pool

    async def write(self, topic: TopicInfo, interest: InterestInfo, style: str) -> Lesson:
        seed = f"{topic.id}|{interest.id}|{style}"
        simple = style == "simpler"
        facts = list(topic.facts) or [topic.description or f"{topic.title} is a core idea."]
        analogies = list(interest.analogies) or list(GENERIC_ANALOGIES)
        a1, a2, a3 = _pick(analogies, seed, 3)
        who = interest.name.lower()
        desc = (topic.description or topic.title).rstrip(".")

        hook = (
            f"Picture {a1}. It looks ordinary, but there is real {topic.subject.replace('_', ' ')}"
            f" hiding in that moment. Today we are going to unpack {topic.title}, and we will use"
            f" {who} to make it stick."
        )
        sections = [
            Section(
                heading="The big idea",
                narration=(
                    f"Here is the big idea in one line: {_lower_first(desc)}. "
                    + " ".join(facts[:2])
                    + (" Take it one step at a time." if simple else "")
                ),
                caption=_caption(facts[0]),
            ),
            Section(
                heading=f"Seeing it in {interest.name}",
                narration=(
                    f"Now think about {a2}. "
                    f"What you see there is {topic.title} at work. "
                    + " ".join(facts[2:4] or facts[:1])
                    + f" Next time you are into {who}, watch for it and you will spot it"
                    " everywhere."
                ),
                caption=_caption(a2[:1].upper() + a2[1:]),
            ),
            Section(
                heading="Why it works",
                narration=(
                    " ".join(facts[4:] or facts[-1:])
                    + f" Scientists and engineers lean on {topic.title} all the time, because"
                    " it lets them predict what will happen before it happens."
                    + (
                        ""
                        if simple
                        else " When you solve problems, start by naming the quantities you"
                        " know, then ask which rule connects them."
                    )
                ),
                caption=_caption(facts[-1]),
            ),
            Section(
                heading="Try it yourself",
                narration=(
                    f"Here is a quick challenge. The next time you see {a3}, pause and explain"
                    f" to a friend what {topic.title} predicts. Say it out loud in your own"
                    " words. If you can teach it, you really understand it."
                ),
                caption=_caption(f"Challenge: explain {a3} with {topic.title}"),
            ),
        ]
        recap = (
            f"Let's recap. {facts[0]} "
            + (facts[1] + " " if len(facts) > 1 else "")
            + f"And you saw it in {who}. That is {topic.title}."
        )
        correct = _caption(facts[0], 120)
        distractors = [
            _caption(d, 120)
            for d in _pick(self.distractor_pool or GENERIC_DISTRACTORS, seed + "q", 6)
            if d not in topic.facts
        ][:2]
        options = [correct, *distractors]
        # Rotate so the answer is not always the first option.
        shift = int(hashlib.sha256((seed + "a").encode()).hexdigest(), 16) % len(options)
        options = options[shift:] + options[:shift]
        lesson = Lesson(
            title=f"{topic.title}, explained with {interest.name}",
            **written_for(topic, interest, style),
            hook=hook,
            sections=sections,
            recap=recap,
            provenance={"provider": "template"},
            check_question=CheckQuestion(
                question=f"Check your understanding: which statement about {topic.title} is true?",
                options=options,
                answer_index=options.index(correct),
            ),
        )
        return _fit_length(lesson, facts)


def _fit_length(lesson: Lesson, facts: list[str]) -> Lesson:
    """Pad a short lesson with the topic's facts, or trim a long one, into 60-180 s."""
    extra = iter(facts * 3)
    while lesson.estimated_seconds() < MIN_NARRATION_SECONDS + 5:
        fact = next(extra, None)
        if fact is None:
            fact = "Take a moment to picture it, then say the idea back to yourself."
        last = lesson.sections[-1]
        lesson.sections[-1] = last.model_copy(
            update={"narration": f"{last.narration} Remember: {fact}"}
        )
    while lesson.estimated_seconds() > MAX_NARRATION_SECONDS - 5 and len(lesson.sections) > 3:
        lesson.sections.pop(1)
    return lesson

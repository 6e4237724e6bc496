"""Offline content-safety gate: checks queries before NLU and lessons before speech.

Deliberately narrow: it blocks requests for harm (weapons or drug making, self-harm,
violence against people, sexual content), not science that sounds dangerous ("why does
a gun recoil", "how do nuclear reactors work" are physics). Messages name the category,
never the student's words.
"""

from __future__ import annotations

import re

from pipeline.lesson import Lesson
from pipeline.providers.protocols import SafetyVerdict

_PATTERNS: dict[str, list[str]] = {
    "weapons": [
        r"\b(make|build|making|building|assemble|homemade)\b.{0,30}\b(bomb|explosive|pipe ?bomb|"
        r"grenade|napalm|molotov|ghost gun|silencer)s?\b",
        r"\b(bomb|explosive)s?\b.{0,20}\b(recipe|instructions|at home)\b",
    ],
    "drugs": [
        r"\b(make|cook|synthesi[sz]e|making|cooking)\b.{0,30}\b(meth|methamphetamine|fentanyl|"
        r"heroin|crack|lsd|mdma)\b",
    ],
    "self-harm": [
        r"\b(kill|hurt|harm|cut)\s+(myself|my self)\b",
        r"\b(suicide|end my life|want to die)\b",
    ],
    "violence": [
        r"\b(kill|poison|hurt|stab|shoot)\s+(someone|somebody|people|my (teacher|classmate|"
        r"brother|sister|mom|dad|friend))\b",
        r"\bpoison\b.{0,30}\bwithout (anyone|them) (knowing|noticing)\b",
    ],
    "sexual content": [r"\b(porn|nude|nudes|sexting)\b"],
}
_COMPILED = {cat: [re.compile(p, re.I) for p in pats] for cat, pats in _PATTERNS.items()}


def _category(text: str) -> str | None:
    for category, patterns in _COMPILED.items():
        if any(p.search(text) for p in patterns):
            return category
    return None


class KeywordSafetyGate:
    def check_query(self, query: str) -> SafetyVerdict:
        category = _category(query)
        if category is None:
            return SafetyVerdict(True)
        return SafetyVerdict(
            False,
            f"The question was declined by the content-safety check ({category}); "
            "ask about the science instead, or talk to a trusted adult if you need help.",
        )

    def check_lesson(self, lesson: Lesson) -> SafetyVerdict:
        category = _category(" ".join([lesson.title, *lesson.narration_parts()]))
        if category is None:
            return SafetyVerdict(True)
        return SafetyVerdict(
            False, f"The generated script failed the content-safety check ({category})."
        )

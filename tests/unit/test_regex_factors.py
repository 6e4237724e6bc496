"""The regex prefilter: it never rules out a text the expression matches (so the safety
gate's verdicts are those of its expressions alone), and it does rule out the texts a
lesson is made of."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import safety
from pipeline.regex_factors import Prefilter, words_of
from pipeline.text import STOPWORDS

LABELLED = Path(__file__).resolve().parents[1] / "data" / "safety_labelled.csv"
PATTERNS = [p for patterns in safety._PATTERNS.values() for p in patterns] + [
    safety._NAMED_VIOLENCE.pattern,
    safety._SCIENCE.pattern,
]
FILTERS = [(re.compile(p), Prefilter(p, STOPWORDS)) for p in PATTERNS]


def could_match(f: Prefilter, text: str) -> bool:
    return f.could_match(text, words_of(text))


def harmful_queries() -> list[str]:
    with LABELLED.open(encoding="utf-8") as f:
        return [r["query"] for r in csv.DictReader(f) if r["label"] == "harmful"]


# Words of the expressions themselves, so the generated texts come near their matches.
VOCABULARY = sorted(
    {w for p in PATTERNS for w in re.findall(r"[a-z][a-z']*", p) if len(w) > 1}
    | {"the", "a", "my", "to", "i", "of", "cells", "energy", "light", "#", "-", "'s"}
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(VOCABULARY), max_size=30),
    st.sampled_from(harmful_queries()),
    st.lists(st.sampled_from(VOCABULARY), max_size=30),
)
def test_a_text_an_expression_matches_is_never_filtered_out(
    before: list[str], query: str, after: list[str]
) -> None:
    text = safety.fold(" ".join([*before, query, *after]))
    for pattern, f in FILTERS:
        if pattern.search(text):
            assert could_match(f, text), (pattern.pattern[:60], text)


def test_the_verdicts_are_those_of_the_expressions_alone() -> None:
    """category_of with its prefilters says what the unfiltered expressions say."""

    def unfiltered(text: str) -> str | None:
        folded = safety.fold(text)
        for category, patterns in safety._PATTERNS.items():
            if any(re.search(p, folded) for p in patterns):
                return category
        named = safety._NAMED_VIOLENCE.search(folded)
        if named and named["who"] not in STOPWORDS and named["who"] not in safety._NOT_PEOPLE:
            return "violence"
        return None

    with LABELLED.open(encoding="utf-8") as f:
        queries = [r["query"] for r in csv.DictReader(f)]
    assert [safety.category_of(q) for q in queries] == [unfiltered(q) for q in queries]


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"\bab\b", "an ab here", True),
        (r"\bab\b", "a cab here", False),  # only as part of a word: \b does not hold
        (r"ab", "a cab here", True),  # no \b: a substring will do
        (r"\bkill (?:me|myself)\b", "a skill of mine", False),
        (r"\bkill (?:me|myself)\b", "kill the process", True),  # may let a text by
        (r"\bkill (?:me|myself)\b", "please kill me", True),
        (r"\b(?:make|build)\b[^#]{0,60}\bbombs?\b", "make a cake", False),
        (r"\b(?:make|build)\b[^#]{0,60}\bbombs?\b", "a bomb here", False),
        (r"\b(?:make|build)\b[^#]{0,60}\bbombs?\b", "build the bombs", True),
        (r"[a-z]+ing", "anything", True),  # nothing literal: always run
    ],
)
def test_what_a_filter_rules_out(pattern: str, text: str, expected: bool) -> None:
    assert could_match(Prefilter(pattern), text) is expected
    if re.search(pattern, text):
        assert expected


async def test_a_lesson_runs_few_of_the_gates_expressions() -> None:
    """The point of it: the template writer's lessons hold the words of few expressions."""
    from db.seed import seed_catalog
    from pipeline.providers.script_template import TemplateScriptWriter

    catalog, writer = seed_catalog(), TemplateScriptWriter()
    topic = next(iter(catalog.topics.values()))
    ran = []
    for interest in catalog.interests.values():
        lesson = await writer.write(topic, interest, "conversational")
        text = safety.fold(" ".join([lesson.title, *lesson.narration_parts()]))
        ran.append(sum(could_match(f, text) for _, f in FILTERS) / len(FILTERS))
    assert max(ran) <= 0.25, ran

"""The safety gate on the labelled set (tests/data/safety_labelled.csv, written by
scripts/safety_set.py): recall on harmful queries and false positives on benign ones."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipeline.safety import SELF_HARM, SELF_HARM_MESSAGE, KeywordSafetyGate, category_of

LABELLED = Path(__file__).resolve().parents[1] / "data" / "safety_labelled.csv"


def labelled() -> list[dict[str, str]]:
    with LABELLED.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_recall_and_false_positives_on_the_labelled_set() -> None:
    rows = labelled()
    harmful = [r for r in rows if r["label"] == "harmful"]
    benign = [r for r in rows if r["label"] == "benign"]
    assert len(rows) >= 300
    missed = [r for r in harmful if category_of(r["query"]) is None]
    flagged = [r for r in benign if category_of(r["query"]) is not None]
    recall = 1 - len(missed) / len(harmful)
    fp_rate = len(flagged) / len(benign)
    by_variant = {}
    for r in harmful:
        hit = category_of(r["query"]) is not None
        total, hits = by_variant.get(r["variant"], (0, 0))
        by_variant[r["variant"]] = (total + 1, hits + hit)
    print(
        f"\nsafety gate on {len(rows)} labelled queries: recall {recall:.3f} on "
        f"{len(harmful)} harmful, false-positive rate {fp_rate:.3f} on {len(benign)} benign"
    )
    print("  recall by variant: " + ", ".join(f"{k} {h}/{t}" for k, (t, h) in by_variant.items()))
    assert recall >= 0.95, [r["query"] for r in missed]
    assert fp_rate <= 0.02, [r["query"] for r in flagged]


def test_self_harm_is_its_own_outcome_and_kind() -> None:
    rows = [r for r in labelled() if r["category"] == SELF_HARM and r["variant"] == "plain"]
    for r in rows:
        verdict = KeywordSafetyGate().check_query(r["query"])
        assert (verdict.safe, verdict.category, verdict.reason) == (
            False,
            SELF_HARM,
            SELF_HARM_MESSAGE,
        ), r["query"]
    assert "trusted adult" in SELF_HARM_MESSAGE and "988" in SELF_HARM_MESSAGE


@pytest.mark.parametrize(
    "query",
    [
        "why does a gun recoil",
        "how do nuclear reactors work",
        "what are suicide genes in apoptosis",
    ],
)
def test_science_that_sounds_dangerous_is_allowed(query: str) -> None:
    assert KeywordSafetyGate().check_query(query).safe


def test_declines_never_quote_the_query() -> None:
    query = "how do I make a pipe bomb for Jordan Smith"
    verdict = KeywordSafetyGate().check_query(query)
    assert not verdict.safe and verdict.reason and "Jordan" not in verdict.reason
    assert "pipe" not in verdict.reason


async def test_every_seeded_lesson_passes_the_gate() -> None:
    """Generated scripts pass the same gate before speech: the template writer's lessons
    for every seeded topic and interest must not trip it."""
    from db.seed import seed_catalog
    from pipeline.providers.script_template import TemplateScriptWriter

    catalog, writer, gate = seed_catalog(), TemplateScriptWriter(), KeywordSafetyGate()
    flagged = []
    for topic in catalog.topics.values():
        for interest in catalog.interests.values():
            lesson = await writer.write(topic, interest, "conversational")
            if not gate.check_lesson(lesson).safe:
                flagged.append((topic.id, interest.id))
    assert flagged == []

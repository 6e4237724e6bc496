"""Offline NLU against the seed catalog (no database): the default (semantic) resolver's
accuracy on tests/data/nlu_labelled.jsonl, its clarification and no-topic behaviour, and
the lexical resolver, which stays available as NLU_PROVIDER=lexical."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from db.seed import seed_catalog
from pipeline.catalog import Catalog, TopicInfo
from pipeline.providers.factory import build_resolver
from pipeline.providers.nlu_lexical import LexicalTopicResolver
from pipeline.providers.nlu_semantic import SemanticModelUnavailable, SemanticTopicResolver
from pipeline.settings import Settings, get_settings
from pipeline.text import terms

LABELLED = Path(__file__).resolve().parents[1] / "data" / "nlu_labelled.jsonl"
THRESHOLD = Settings.model_fields["nlu_confidence_threshold"].default


def labelled() -> list[dict[str, str | None]]:
    return [json.loads(line) for line in LABELLED.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return seed_catalog()


@pytest.fixture(scope="module")
def resolver() -> SemanticTopicResolver:
    r = build_resolver(get_settings())
    assert isinstance(r, SemanticTopicResolver), "the default NLU provider should be semantic"
    return r


def leaves(catalog: Catalog) -> list[TopicInfo]:
    return sorted((t for t in catalog.topics.values() if t.is_leaf), key=lambda t: t.id)


# -- the default resolver on the labelled set ------------------------------------------------


async def test_labelled_accuracy(resolver: SemanticTopicResolver, catalog: Catalog) -> None:
    rows = labelled()
    top1 = interests = clarified = confident_wrong = 0
    misses: list[str] = []
    for row in rows:
        query, want = str(row["query"]), row["topic_id"]
        ranked = resolver.rank(query, catalog)
        u = await resolver.understand(query, catalog)
        best = ranked[0][0]
        top1 += best == want
        interests += u.interest_id == row["interest_id"]
        clarified += u.topic_id is None
        confident_wrong += u.topic_id is not None and u.topic_id != want
        if best != want or u.interest_id != row["interest_id"]:
            verdict = "clarify" if u.topic_id is None else f"CONFIDENT {u.topic_id}"
            misses.append(
                f"  {query[:60]!r}: want {want} / {row['interest_id']}, ranked {best} first, "
                f"{verdict} ({u.confidence}), interest {u.interest_id}"
            )
    n = len(rows)
    print(
        f"\nNLU ({type(resolver).__name__}, threshold {resolver.threshold}) on {n} queries:"
        f"\n  top-1 {top1}/{n} = {top1 / n:.1%}; interest {interests}/{n} = {interests / n:.1%}"
        f"\n  clarifications {clarified}; confident but wrong {confident_wrong}\n"
        + "\n".join(misses)
    )
    assert top1 / n >= 0.85
    assert interests / n >= 0.95
    # Guards on the confidence formula: few wrong answers go through, most right ones do.
    assert confident_wrong <= 3
    assert clarified <= 0.3 * n


async def test_every_topic_resolves_by_its_title(
    resolver: SemanticTopicResolver, catalog: Catalog
) -> None:
    """The worker tests ask "can you explain {title}?" and expect that topic, at once."""
    wrong = []
    for topic in leaves(catalog):
        u = await resolver.understand(f"can you explain {topic.title}?", catalog)
        if u.topic_id != topic.id:
            wrong.append((topic.id, u.topic_id, u.confidence))
    assert wrong == []


async def test_every_title_of_two_or_more_words_is_settled_without_an_embedding(
    resolver: SemanticTopicResolver, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A student who picks a topic's title (the app suggests them) is answered from the
    words alone, and with the topic the embedding would have chosen."""
    resolver.rank("warm up", catalog)
    titled = [t for t in leaves(catalog) if len(set(terms(t.title))) >= 2]
    assert len(titled) >= 30
    monkeypatch.setattr(resolver.embedder, "embed", _no_embedding)
    wrong = []
    for topic in titled:
        u = await resolver.understand(f"explain {topic.title}", catalog)
        if u.topic_id != topic.id:
            wrong.append((topic.id, u.topic_id))
    assert wrong == []


def _no_embedding(texts: object) -> None:
    raise AssertionError("the query was embedded")


@pytest.mark.parametrize("query", ["energy", "atoms", "forces", "how do cells work", "math"])
async def test_broad_queries_ask_which_topic(
    resolver: SemanticTopicResolver, catalog: Catalog, query: str
) -> None:
    u = await resolver.understand(query, catalog)
    assert u.topic_id is None
    assert u.confidence < THRESHOLD
    assert 2 <= len(u.options) <= 4
    assert u.question
    assert all(catalog.topics[o.topic_id].is_leaf for o in u.options)
    assert len({o.topic_id for o in u.options}) == len(u.options)


async def test_subject_only_query_offers_that_subjects_topics(
    resolver: SemanticTopicResolver, catalog: Catalog
) -> None:
    u = await resolver.understand("math", catalog)
    assert u.question == "Which part of Mathematics do you want to learn about?"
    assert all(o.topic_id.startswith("topic_math_") for o in u.options)
    forces = await resolver.understand("forces", catalog)
    assert {o.topic_id for o in forces.options} == {
        "topic_phys_newton_1",
        "topic_phys_newton_2",
        "topic_phys_newton_3",
    }


async def test_gibberish_names_no_topic(resolver: SemanticTopicResolver, catalog: Catalog) -> None:
    u = await resolver.understand("asdkjh qwpoeiru zxmcnv", catalog)
    assert (u.topic_id, u.options, u.question) == (None, [], None)


async def test_question_outside_the_catalog_is_not_answered_with_a_topic(
    resolver: SemanticTopicResolver, catalog: Catalog
) -> None:
    u = await resolver.understand("why is the sky blue", catalog)
    assert u.topic_id is None
    assert len(u.options) <= 4


async def test_clarification_answer_resolves(
    resolver: SemanticTopicResolver, catalog: Catalog
) -> None:
    """The NLU stage re-runs on the query plus the student's free-text answer."""
    u = await resolver.understand(
        "energy\nthe one about photosynthesis in plants and sunlight", catalog
    )
    assert u.topic_id == "topic_bio_photosynthesis"
    assert u.confidence >= THRESHOLD


async def test_named_law_and_interest(resolver: SemanticTopicResolver, catalog: Catalog) -> None:
    u = await resolver.understand("explain newton's third law with skateboarding", catalog)
    assert (u.topic_id, u.interest_id) == ("topic_phys_newton_3", "int_skateboarding")
    assert 0.0 <= u.confidence <= 1.0
    assert u.options[0].topic_id == "topic_phys_newton_3"


def test_rank_covers_every_leaf_best_first(
    resolver: SemanticTopicResolver, catalog: Catalog
) -> None:
    ranked = resolver.rank("how do magnets work", catalog)
    assert ranked[0][0] == "topic_phys_magnetism"
    assert {tid for tid, _ in ranked} == {t.id for t in leaves(catalog) if t.depth >= 1}
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True)


def test_embeddings_are_unit_vectors_that_track_meaning(
    resolver: SemanticTopicResolver,
) -> None:
    food, bread, baby = (
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The girl is carrying a baby.",
    )
    v = resolver.embedder.embed([food, bread, baby])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.6 > 0.1 > v[0] @ v[2]


def test_catalog_reload_reuses_topic_embeddings(
    resolver: SemanticTopicResolver, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver.rank("warm up", catalog)
    embedded: list[str] = []
    real = resolver.embedder.embed

    def counting(texts):
        embedded.extend(texts)
        return real(texts)

    monkeypatch.setattr(resolver.embedder, "embed", counting)
    reloaded = dataclasses.replace(catalog, topics=dict(catalog.topics))
    resolver.rank("how do magnets work", reloaded)
    assert embedded == ["how do magnets work"]  # the topics came from the cache

    changed = dict(catalog.topics)
    old = changed["topic_phys_sound"]
    changed[old.id] = dataclasses.replace(old, description=old.description + " Echoes too.")
    embedded.clear()
    resolver.rank("echo", dataclasses.replace(catalog, topics=changed))
    assert len(embedded) == 2 and "Echoes too." in embedded[0]
    resolver.rank("warm up", catalog)  # leave the fixture on the seed catalog


def test_missing_model_or_tokenizer_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(SemanticModelUnavailable, match="model file not found"):
        SemanticTopicResolver(0.45, model_path=tmp_path / "missing.onnx")
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(SemanticModelUnavailable, match="tokenizer"):
        SemanticTopicResolver(0.45, tokenizer_path=bad)


def test_nlu_provider_setting_picks_the_resolver() -> None:
    assert Settings.model_fields["nlu_provider"].default == "semantic"
    lexical = build_resolver(Settings(nlu_provider="lexical", nlu_confidence_threshold=0.3))
    assert isinstance(lexical, LexicalTopicResolver) and lexical.threshold == 0.3


# -- the lexical resolver alone --------------------------------------------------------------


async def test_lexical_resolver(catalog: Catalog) -> None:
    r = LexicalTopicResolver(THRESHOLD)
    u = await r.understand("how does newton's third law work in basketball?", catalog)
    assert (u.topic_id, u.interest_id) == ("topic_phys_newton_3", "int_basketball")
    assert u.confidence >= THRESHOLD
    assert r.scores("how does newton's third law work", catalog)[0][0] == "topic_phys_newton_3"

    broad = await r.understand("math", catalog)
    assert broad.topic_id is None and 2 <= len(broad.options) <= 4
    assert all(o.topic_id.startswith("topic_math_") for o in broad.options)

    vague = await r.understand("energy", catalog)
    assert vague.topic_id is None and 2 <= len(vague.options) <= 4

    nothing = await r.understand("asdkjh qwpoeiru zxmcnv", catalog)
    assert (nothing.topic_id, nothing.options) == (None, [])
    assert r.interest_in("explain gravity with skateboarding", catalog) == "int_skateboarding"


@pytest.mark.parametrize(
    ("query", "topic"),
    [
        ("how does momentum work", "topic_phys_momentum"),
        ("echo", "topic_phys_sound"),
        # Whole titles whose words their sibling topics share (lexical share below 0.6).
        ("explain Newton's Second Law", "topic_phys_newton_2"),
        ("what are binary numbers", "topic_cs_binary_numbers"),
    ],
)
async def test_a_query_that_names_one_topic_is_settled_without_an_embedding(
    resolver: SemanticTopicResolver,
    catalog: Catalog,
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    topic: str,
) -> None:
    resolver.rank("warm up", catalog)  # the topic index, built before embedding is barred
    monkeypatch.setattr(resolver.embedder, "embed", _no_embedding)
    understood = await resolver.understand(query, catalog)
    assert understood.topic_id == topic
    assert understood.confidence >= THRESHOLD

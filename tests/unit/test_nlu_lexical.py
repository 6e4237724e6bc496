"""The lexical resolver's inverted index scores exactly as its definition says: for each
topic, the IDF-weighted (capped) weights of the query's distinct terms, plus a bonus per
keyword phrase found whole; and the interest of the longest interest phrase, the first
in catalog order among equally long ones. The definition is written out here plainly
(every topic, every phrase) and compared on the seed catalog's own words."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db.seed import seed_catalog
from pipeline.catalog import Catalog
from pipeline.providers import nlu_lexical as L
from pipeline.text import stem, terms, words

CATALOG = seed_catalog()


def contains(seq: list[str], phrase: tuple[str, ...]) -> bool:
    k = len(phrase)
    return any(tuple(seq[i : i + k]) == phrase for i in range(len(seq) - k + 1))


def defined_scores(query: str, catalog: Catalog) -> dict[str, float]:
    leaves = [t for t in catalog.topics.values() if t.is_leaf and t.depth >= 1]
    bags: dict[str, Counter[str]] = {}
    for t in leaves:
        bag: Counter[str] = Counter()
        for kw in t.keywords:
            for term in terms(kw):
                bag[term] += L.KEYWORD_WEIGHT
        for term in terms(t.title):
            bag[term] += L.TITLE_WEIGHT
        for term in terms(t.description):
            bag[term] += L.DESCRIPTION_WEIGHT
        for fact in t.facts:
            for term in terms(fact):
                bag[term] += L.FACT_WEIGHT
        bags[t.id] = bag
    df: Counter[str] = Counter(term for bag in bags.values() for term in bag)
    idf = {term: math.log(1 + len(bags) / n) for term, n in df.items()}
    q = terms(query)
    out = {}
    for t in leaves:
        bag = bags[t.id]
        cap = L.KEYWORD_WEIGHT + L.TITLE_WEIGHT
        s = sum(min(bag[x], cap) * idf[x] for x in set(q) if x in bag)
        for p in (tuple(terms(kw)) for kw in t.keywords):
            if len(p) > 1 and contains(q, p):
                s += L.PHRASE_BONUS * len(p)
        if s > 0:
            out[t.id] = s
    return out


def defined_interest(query: str, catalog: Catalog) -> str | None:
    q = [stem(w) for w in words(query)]
    best: tuple[int, str] | None = None
    for i in catalog.interests.values():
        for k in (*i.keywords, i.name):
            p = tuple(stem(w) for w in words(k))
            if p and contains(q, p) and (best is None or len(p) > best[0]):
                best = (len(p), i.id)
    return best[1] if best else None


# Queries made of the catalog's own words and phrases, so matches are the common case.
VOCABULARY = sorted(
    {w for t in CATALOG.topics.values() for w in words(f"{t.title} {' '.join(t.keywords)}")}
    | {w for i in CATALOG.interests.values() for w in words(f"{i.name} {' '.join(i.keywords)}")}
    | {"the", "how", "why", "does", "my", "and", "explain", "with"}
)
PHRASES = sorted(
    {kw for t in CATALOG.topics.values() for kw in t.keywords if len(words(kw)) > 1}
    | {k for i in CATALOG.interests.values() for k in i.keywords if len(words(k)) > 1}
)
queries = st.lists(st.sampled_from(VOCABULARY) | st.sampled_from(PHRASES), max_size=12).map(
    " ".join
)


@settings(max_examples=300, deadline=None)
@given(queries)
def test_scores_are_the_defined_scores(query: str) -> None:
    got = dict(L.LexicalTopicResolver(0.5).scores(query, CATALOG))
    want = defined_scores(query, CATALOG)
    assert got.keys() == want.keys()
    for tid, score in want.items():
        assert got[tid] == pytest.approx(score, rel=1e-12)


@settings(max_examples=300, deadline=None)
@given(queries)
def test_the_interest_is_the_defined_interest(query: str) -> None:
    assert L.LexicalTopicResolver(0.5).interest_in(query, CATALOG) == defined_interest(
        query, CATALOG
    )


def test_a_phrase_found_twice_counts_once() -> None:
    phrase = next(kw for t in CATALOG.topics.values() for kw in t.keywords if len(words(kw)) > 1)
    once = dict(L.LexicalTopicResolver(0.5).scores(phrase, CATALOG))
    twice = dict(L.LexicalTopicResolver(0.5).scores(f"{phrase} and {phrase}", CATALOG))
    assert once == twice == pytest.approx(defined_scores(phrase, CATALOG))

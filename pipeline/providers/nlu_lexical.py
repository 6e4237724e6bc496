"""Offline NLU: weighted lexical matching of a query against the topics table.

Each leaf topic gets a bag of stemmed terms from its keywords (strongest), title,
description and teaching facts (weakest), weighted by how rare each term is across
topics (IDF). Keyword phrases ("equal and opposite") score as phrases. Confidence is the
share of the top topic's score among the top three, damped when the match is thin.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass

from pipeline.catalog import Catalog, TopicInfo
from pipeline.providers.protocols import TopicOption, Understanding
from pipeline.text import stem, terms, words

KEYWORD_WEIGHT = 3.0
TITLE_WEIGHT = 2.0
DESCRIPTION_WEIGHT = 1.0
FACT_WEIGHT = 0.5
PHRASE_BONUS = 2.0  # a multi-word keyword found whole is worth more than its words
# A score this high is a clear match even when other topics score too.
CONFIDENT_SCORE = 6.0
MAX_OPTIONS = 4


@dataclass
class _Index:
    """Inverted, so a query costs what its own words cost, not a pass over every topic:
    each term's (topic, weight x IDF), and each phrase under its first term as (topic,
    its place among the topic's phrases, the phrase). Interests' phrases likewise, in
    catalog order (the first of two equally long matches wins)."""

    postings: dict[str, list[tuple[str, float]]]
    phrases: dict[str, list[tuple[str, int, tuple[str, ...]]]]
    interest_phrases: dict[str, list[tuple[int, str, tuple[str, ...]]]]
    catalog_id: int


def _build(catalog: Catalog) -> _Index:
    leaves = [t for t in catalog.topics.values() if t.is_leaf and t.depth >= 1]
    bags: dict[str, defaultdict[str, float]] = {}
    phrases: defaultdict[str, list[tuple[str, int, tuple[str, ...]]]] = defaultdict(list)
    for t in leaves:
        bag: defaultdict[str, float] = defaultdict(float)
        for kw in t.keywords:
            for term in terms(kw):
                bag[term] += KEYWORD_WEIGHT
        for term in terms(t.title):
            bag[term] += TITLE_WEIGHT
        for term in terms(t.description):
            bag[term] += DESCRIPTION_WEIGHT
        for fact in t.facts:
            for term in terms(fact):
                bag[term] += FACT_WEIGHT
        bags[t.id] = bag
        topic_phrases = [p for p in (tuple(terms(kw)) for kw in t.keywords) if len(p) > 1]
        for place, phrase in enumerate(topic_phrases):
            phrases[phrase[0]].append((t.id, place, phrase))
    df: Counter[str] = Counter()
    for bag in bags.values():
        df.update(bag.keys())
    n = max(len(bags), 1)
    idf = {term: math.log(1 + n / count) for term, count in df.items()}
    postings: defaultdict[str, list[tuple[str, float]]] = defaultdict(list)
    for tid, bag in bags.items():
        for term, w in bag.items():
            postings[term].append((tid, min(w, KEYWORD_WEIGHT + TITLE_WEIGHT) * idf[term]))
    # Interests match on every word, stopwords included: "my cat" must not match "cats".
    interest_phrases: defaultdict[str, list[tuple[int, str, tuple[str, ...]]]] = defaultdict(list)
    order = 0
    for i in catalog.interests.values():
        for k in (*i.keywords, i.name):
            if words(k):
                phrase = _all_words(k)
                interest_phrases[phrase[0]].append((order, i.id, phrase))
                order += 1
    return _Index(dict(postings), dict(phrases), dict(interest_phrases), id(catalog))


def _all_words(text: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in words(text))


def _at(seq: list[str], i: int, phrase: tuple[str, ...]) -> bool:
    return tuple(seq[i : i + len(phrase)]) == phrase


class LexicalTopicResolver:
    """TopicResolver over the catalog; rebuilds its index when the catalog changes."""

    def __init__(self, confidence_threshold: float) -> None:
        self.threshold = confidence_threshold
        self._index: _Index | None = None

    def _index_for(self, catalog: Catalog) -> _Index:
        if self._index is None or self._index.catalog_id != id(catalog):
            self._index = _build(catalog)
        return self._index

    def scores(self, query: str, catalog: Catalog) -> list[tuple[str, float]]:
        """Each topic's score: the IDF-weighted weights of the query's distinct terms in
        its bag, plus PHRASE_BONUS a word for each of its keyword phrases found whole."""
        index = self._index_for(catalog)
        q = terms(query)
        scores: defaultdict[str, float] = defaultdict(float)
        for term in set(q):
            for tid, weight in index.postings.get(term, ()):
                scores[tid] += weight
        found: set[tuple[str, int]] = set()  # a phrase counts once, however often it occurs
        for i, term in enumerate(q):
            for tid, place, phrase in index.phrases.get(term, ()):
                if (tid, place) not in found and _at(q, i, phrase):
                    found.add((tid, place))
                    scores[tid] += PHRASE_BONUS * len(phrase)
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))

    def interest_in(self, query: str, catalog: Catalog) -> str | None:
        """The interest of the longest interest phrase in the query (the first in catalog
        order among equally long ones)."""
        q = list(_all_words(query))
        index = self._index_for(catalog)
        best: tuple[int, int, str] | None = None  # (-length, catalog order, interest)
        for i, word in enumerate(q):
            for order, iid, phrase in index.interest_phrases.get(word, ()):
                if _at(q, i, phrase) and (best is None or (-len(phrase), order) < best[:2]):
                    best = (-len(phrase), order, iid)
        return best[2] if best else None

    async def understand(self, query: str, catalog: Catalog) -> Understanding:
        ranked = self.scores(query, catalog)
        interest = self.interest_in(query, catalog)
        if not ranked:
            return self._broad(query, catalog, interest)
        top = ranked[0][1]
        rest = sum(s for _, s in ranked[1:3])
        confidence = (top / (top + rest)) * min(1.0, top / CONFIDENT_SCORE) ** 0.5
        if top >= CONFIDENT_SCORE and top >= 2 * (ranked[1][1] if len(ranked) > 1 else 0):
            confidence = max(confidence, 0.9)
        options = [
            TopicOption(tid, catalog.topics[tid].title, round(s / (top + rest), 3))
            for tid, s in ranked[:MAX_OPTIONS]
        ]
        if confidence < self.threshold:
            return Understanding(
                topic_id=None,
                confidence=round(confidence, 3),
                interest_id=interest,
                options=options if len(options) >= 2 else self._with_neighbours(options, catalog),
                question="Which of these topics do you want to learn about?",
            )
        return Understanding(
            topic_id=ranked[0][0],
            confidence=round(confidence, 3),
            interest_id=interest,
            options=options,
        )

    @staticmethod
    def _broad(query: str, catalog: Catalog, interest: str | None) -> Understanding:
        """No specific topic matched; if a subject or area did ("math", "chemistry"),
        ask which of its topics the student means."""
        q = set(terms(query))
        areas = [
            t
            for t in sorted(catalog.topics.values(), key=lambda t: (-t.depth, t.id))
            if not t.is_leaf and q & {x for k in (*t.keywords, t.title) for x in terms(k)}
        ]
        if not areas:
            return Understanding(topic_id=None, confidence=0.0, interest_id=interest)
        area = areas[0]
        leaves = sorted(
            (
                t
                for t in catalog.topics.values()
                if t.is_leaf and t.path.startswith(area.path + ".")
            ),
            key=lambda t: t.path,
        )[:MAX_OPTIONS]
        return Understanding(
            topic_id=None,
            confidence=0.0,
            interest_id=interest,
            options=[TopicOption(t.id, t.title, 0.0) for t in leaves],
            question=f"Which part of {area.title} do you want to learn about?",
        )

    @staticmethod
    def _with_neighbours(options: list[TopicOption], catalog: Catalog) -> list[TopicOption]:
        """One weak match: offer its siblings too, so the student has a real choice."""
        first = catalog.topics[options[0].topic_id]
        siblings: list[TopicInfo] = [
            t
            for t in catalog.topics.values()
            if t.path.rsplit(".", 1)[0] == first.path.rsplit(".", 1)[0]
            and t.id != first.id
            and t.is_leaf
        ]
        extra = [TopicOption(t.id, t.title, 0.0) for t in sorted(siblings, key=lambda t: t.id)]
        return (options + extra)[:MAX_OPTIONS]

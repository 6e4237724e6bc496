"""The topic catalog and interests as plain data: what db/ reads and providers use.

A leaf of pipeline/ (stdlib only), so the persistence layer can build it without
importing the provider protocols.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TopicInfo:
    id: str
    title: str
    description: str
    subject: str
    path: str
    depth: int
    grade_level_min: int
    grade_level_max: int
    keywords: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    is_leaf: bool = True


@dataclass(frozen=True)
class InterestInfo:
    id: str
    name: str
    description: str
    category: str
    keywords: tuple[str, ...] = ()
    analogies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalog:
    topics: dict[str, TopicInfo]
    interests: dict[str, InterestInfo]


def catalog_from_rows(
    topics: Iterable[Mapping[Any, Any]], interests: Iterable[Mapping[Any, Any]]
) -> Catalog:
    """The catalog of these (active) `topics` and `interests` rows, as the database or the
    seed files hold them; a leaf is a topic none of the given topics has as its parent."""
    topic_rows = list(topics)
    parents = {t["parent_id"] for t in topic_rows if t["parent_id"]}
    return Catalog(
        topics={
            t["id"]: TopicInfo(
                id=t["id"],
                title=t["title"],
                description=t["description"] or "",
                subject=t["subject"],
                path=t["path"] or "",
                depth=t["depth"],
                grade_level_min=t["grade_level_min"] or 9,
                grade_level_max=t["grade_level_max"] or 12,
                keywords=tuple((t["metadata"] or {}).get("keywords", ())),
                facts=tuple((t["metadata"] or {}).get("facts", ())),
                is_leaf=t["id"] not in parents,
            )
            for t in topic_rows
        },
        interests={
            i["id"]: InterestInfo(
                id=i["id"],
                name=i["name"],
                description=i["description"] or "",
                category=i["category"] or "",
                keywords=tuple((i["metadata"] or {}).get("keywords", ())),
                analogies=tuple((i["metadata"] or {}).get("analogies", ())),
            )
            for i in interests
        },
    )

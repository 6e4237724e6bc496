"""The topic catalog and interests as plain data: what db/ reads and providers use.

A leaf of pipeline/ (stdlib only), so the persistence layer can build it without
importing the provider protocols.
"""

from __future__ import annotations

from dataclasses import dataclass


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

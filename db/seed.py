"""`vividly seed`: the topic catalog, canonical interests and a demo school, idempotently.

Every row is upserted with `ON CONFLICT … DO UPDATE … WHERE <row differs>`, so a second
run changes nothing (not even updated_at) while edits to the data files still apply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import (
    Base,
    Class,
    ClassStudent,
    Interest,
    Organization,
    StudentInterest,
    Topic,
    User,
)
from pipeline.catalog import Catalog, catalog_from_rows

# Accounts in the demo school cannot log in: the hash is not a bcrypt hash of anything.
DISABLED_PASSWORD = "!disabled"

DEMO_DISTRICT = "org_demo_district"
DEMO_SCHOOL = "school_demo_hs"
DEMO_TEACHER = "user_demo_teacher"
DEMO_CLASS = "class_demo_physics"
DEMO_STUDENTS: dict[str, tuple[str, str, int, list[str]]] = {
    # id: (first name, last name, grade, interests by rank)
    "user_demo_student_1": (
        "Ava",
        "Demo",
        10,
        ["int_basketball", "int_video_games", "int_cooking"],
    ),
    "user_demo_student_2": ("Ben", "Demo", 11, ["int_music_production", "int_soccer"]),
    "user_demo_student_3": (
        "Cara",
        "Demo",
        9,
        ["int_video_games", "int_basketball", "int_music_production"],
    ),
}


@dataclass(frozen=True)
class SeedReport:
    written: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.written.values())


def _table(model: type[Base]) -> Table:
    table: Table = model.__table__  # type: ignore[assignment]  # a mapped class's Table
    return table


def load_json(name: str) -> list[dict[str, Any]]:
    data = resources.files("db").joinpath("seed_data", name).read_text(encoding="utf-8")
    rows: list[dict[str, Any]] = json.loads(data)
    return rows


def seed_catalog() -> Catalog:
    """The Catalog that CatalogStore.load() builds from a freshly seeded database."""
    return catalog_from_rows(
        (t for t in load_json("topics.json") if t.get("is_active", True)),
        (i for i in load_json("interests.json") if i.get("is_active", True)),
    )


def _rename_metadata(row: dict[str, Any]) -> dict[str, Any]:
    return {("metadata" if k == "metadata_" else k): v for k, v in row.items()}


async def _upsert(
    conn: AsyncConnection,
    table: Table,
    rows: list[dict[str, Any]],
    key: list[str],
    update: bool = True,
) -> int:
    """Insert or (with `update`) update rows; returns how many rows were actually written."""
    if not rows:
        return 0
    rows = [_rename_metadata(r) for r in rows]
    stmt = insert(table).values(rows)
    cols = [c for c in rows[0] if c not in key]
    if not cols or not update:
        upsert = stmt.on_conflict_do_nothing(index_elements=key)
    else:
        upsert = stmt.on_conflict_do_update(
            index_elements=key,
            set_={c: stmt.excluded[c] for c in cols},
            where=or_(*(table.c[c].is_distinct_from(stmt.excluded[c]) for c in cols)),
        )
    return len((await conn.execute(upsert.returning(table.c[key[0]]))).all())


def _known_interests(interests: list[dict[str, Any]]) -> set[str]:
    return {i["id"] for i in interests}


async def seed(conn: AsyncConnection, *, catalog_only: bool = False) -> SeedReport:
    """The shipped catalog and the demo school. With `catalog_only` (what a deployment
    runs at each start), the shipped topics and interests are loaded into an empty
    catalog and nothing else is written: once curriculum staff own the catalog, a deploy
    neither reverts their edits nor brings back what they removed, and no demo accounts
    appear in a school's database."""
    topics = load_json("topics.json")
    interests = load_json("interests.json")
    update = not catalog_only
    if catalog_only:
        has_topics = (await conn.execute(select(Topic.id).limit(1))).first() is not None
        has_interests = (await conn.execute(select(Interest.id).limit(1))).first() is not None
        topics = [] if has_topics else topics
        interests = [] if has_interests else interests
    written: dict[str, int] = {}
    written["topics"] = 0
    # Parents first: the self-referencing foreign key is checked per statement.
    for depth in sorted({t["depth"] for t in topics}):
        level = [t for t in topics if t["depth"] == depth]
        written["topics"] += await _upsert(conn, _table(Topic), level, ["id"], update)
    written["interests"] = await _upsert(conn, _table(Interest), interests, ["id"], update)
    if catalog_only:
        return SeedReport(written)

    district = {
        "id": DEMO_DISTRICT,
        "name": "Demo Unified School District",
        "org_type": "district",
        "parent_id": None,
    }
    school = {
        "id": DEMO_SCHOOL,
        "name": "Demo High School",
        "org_type": "school",
        "parent_id": DEMO_DISTRICT,
    }
    written["organizations"] = 0
    for org in (district, school):  # the parent first, as for topics
        row = {**org, "state": "TN", "metadata": {"contract_end_date": None}}
        written["organizations"] += await _upsert(conn, _table(Organization), [row], ["id"])
    users = [
        {
            "id": DEMO_TEACHER,
            "email": "teacher@demo.vividly.invalid",
            "password_hash": DISABLED_PASSWORD,
            "first_name": "Dana",
            "last_name": "Teacher",
            "role": "teacher",
            "org_id": DEMO_SCHOOL,
            "grade_level": None,
            "student_id": None,
        }
    ] + [
        {
            "id": uid,
            "email": f"{uid.removeprefix('user_')}@demo.vividly.invalid",
            "password_hash": DISABLED_PASSWORD,
            "first_name": first,
            "last_name": last,
            "role": "student",
            "org_id": DEMO_SCHOOL,
            "grade_level": grade,
            "student_id": f"S-{uid[-1]:0>4}",
        }
        for uid, (first, last, grade, _) in DEMO_STUDENTS.items()
    ]
    written["users"] = await _upsert(conn, _table(User), users, ["id"])
    written["classes"] = await _upsert(
        conn,
        _table(Class),
        [
            {
                "id": DEMO_CLASS,
                "name": "Physics, period 2",
                "subject": "physics",
                "grade_level": 10,
                "school_year": "2026-2027",
                "teacher_id": DEMO_TEACHER,
                "school_id": DEMO_SCHOOL,
                "invite_code": "DEMO-PHYS-2",
            }
        ],
        ["id"],
    )
    written["class_students"] = await _upsert(
        conn,
        _table(ClassStudent),
        [{"class_id": DEMO_CLASS, "student_id": uid} for uid in DEMO_STUDENTS],
        ["class_id", "student_id"],
    )
    known = _known_interests(interests)
    ranked = [
        {"student_id": uid, "interest_id": iid, "rank": rank}
        for uid, (_, _, _, ids) in DEMO_STUDENTS.items()
        for rank, iid in enumerate((i for i in ids if i in known), start=1)
    ]
    written["student_interests"] = await _upsert(
        conn, _table(StudentInterest), ranked, ["student_id", "rank"]
    )
    return SeedReport(written)


async def seed_database(url: str, *, catalog_only: bool = False) -> SeedReport:
    """Seed the database at `url` in one transaction, on an engine of its own."""
    from db.session import create_engine, unit_of_work

    engine = create_engine(url)
    try:
        async with unit_of_work(engine) as conn:
            return await seed(conn, catalog_only=catalog_only)
    finally:
        await engine.dispose()

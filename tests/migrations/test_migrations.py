"""Migrations run up, down to base and up again on a real database."""

from __future__ import annotations

import asyncio
import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from db import migrate as m
from db.models import Base
from tests.migrations.catalog import snapshot
from tests.migrations.test_schema_matches_seed import AUDIT_PARTITION
from tests.support import asyncpg_url, connect, libpq_url


def test_upgrade_downgrade_upgrade(empty_db: str) -> None:
    url = asyncpg_url(empty_db)
    m.upgrade(url)
    assert asyncio.run(m.current_revision(url)) == m.head_revision()
    with connect(empty_db) as conn:
        first = snapshot(conn)
    tables = {i[1] for i in first if i[0] == "table" and not AUDIT_PARTITION.fullmatch(i[1])}
    assert len(tables) == 15  # the seed's 14 + 003's side table (006's partitions aside)

    m.downgrade(url, "base")
    assert asyncio.run(m.current_revision(url)) is None
    with connect(empty_db) as conn:
        left = {i for i in snapshot(conn) if i[0] != "extension"}
    assert left == set(), left

    m.upgrade(url)
    with connect(empty_db) as conn:
        assert snapshot(conn) == first


def test_002_downgrades_alone(migrated_db: str) -> None:
    url = asyncpg_url(migrated_db)
    m.downgrade(url, "001")
    with connect(migrated_db) as conn:
        cols = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'content_requests' AND column_name = 'deleted_at'"
        ).fetchall()
    assert cols == []


def test_003_downgrades_alone_and_cascades_with_its_request(migrated_db: str) -> None:
    with connect(migrated_db) as conn:
        conn.execute(
            "INSERT INTO organizations (id, name, org_type) VALUES ('org_x', 'X', 'district');"
            "INSERT INTO users (id, email, password_hash, first_name, last_name, role, org_id, "
            "grade_level) VALUES ('user_x', 'x@example.org', '!', 'A', 'B', 'student', 'org_x', 9);"
            "INSERT INTO content_requests (id, student_id, original_query) "
            "VALUES ('req_x', 'user_x', 'q');"
            "INSERT INTO request_execution (request_id, stage) VALUES ('req_x', 'nlu')"
        )
        conn.execute("DELETE FROM content_requests WHERE id = 'req_x'")
        assert conn.execute("SELECT count(*) FROM request_execution").fetchone()[0] == 0
    url = asyncpg_url(migrated_db)
    m.downgrade(url, "002")
    with connect(migrated_db) as conn:
        found = conn.execute("SELECT to_regclass('request_execution')").fetchone()[0]
    assert found is None


def test_unknown_revision_is_a_clear_error(migrated_db: str) -> None:
    with pytest.raises(m.UnknownRevision, match="unknown revision 'nope'"):
        m.upgrade(asyncpg_url(migrated_db), "nope")


def _not_a_partition(
    _obj: object, name: str | None, kind: str, _reflected: bool, _: object
) -> bool:
    """audit_logs' yearly partitions (006) are made at run time, not declared as models."""
    return not (kind == "table" and name is not None and AUDIT_PARTITION.fullmatch(name))


def test_models_match_migrated_schema(migrated_db: str) -> None:
    engine = create_engine(libpq_url(migrated_db).replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": _not_a_partition}
            )
            diffs = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_generate_id(migrated_db: str) -> None:
    with connect(migrated_db) as conn:
        ids = [
            r[0] for r in conn.execute("SELECT generate_id('user') FROM generate_series(1, 500)")
        ]
    assert all(re.fullmatch(r"user_[0-9a-f]{16}", i) for i in ids)
    assert len(set(ids)) == 500


def test_updated_at_trigger_moves_on_update_only(migrated_db: str) -> None:
    with connect(migrated_db) as conn:
        conn.execute(
            "INSERT INTO interests (id, name, created_at, updated_at) "
            "VALUES ('int_x', 'X', now() - interval '1 day', now() - interval '1 day')"
        )
        before = conn.execute("SELECT updated_at, created_at FROM interests").fetchone()
        conn.execute("UPDATE interests SET description = 'changed' WHERE id = 'int_x'")
        after = conn.execute("SELECT updated_at, created_at FROM interests").fetchone()
        now = conn.execute("SELECT now()").fetchone()[0]
    assert after[1] == before[1]
    assert before[0] < after[0] <= now


def test_007_announces_committed_status_changes_only(migrated_db: str) -> None:
    """A NOTIFY per insert and status change, delivered on commit; nothing for a rolled
    back change or an update that keeps the status; no student text in the payload."""
    import json

    with connect(migrated_db) as listener, connect(migrated_db) as c:
        listener.execute("LISTEN vividly_request_status")
        c.execute(
            "INSERT INTO organizations (id, name, org_type) VALUES ('o1', 'District', 'district')"
        )
        c.execute(
            "INSERT INTO users (id, email, password_hash, first_name, last_name, role, org_id,"
            " grade_level) VALUES ('u1', 'a@x.invalid', '!', 'Ada', 'L', 'student', 'o1', 10)"
        )
        c.execute(
            "INSERT INTO content_requests (id, student_id, original_query, status) "
            "VALUES ('r1', 'u1', 'a secret question', 'nlu_processing')"
        )
        c.execute("BEGIN")
        c.execute("UPDATE content_requests SET status = 'cache_check' WHERE id = 'r1'")
        c.execute("ROLLBACK")
        c.execute("UPDATE content_requests SET error_message = 'x' WHERE id = 'r1'")
        c.execute("UPDATE content_requests SET status = 'failed' WHERE id = 'r1'")
        events = [json.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=2)]
    assert [(e["id"], e["from"], e["to"]) for e in events] == [
        ("r1", None, "nlu_processing"),
        ("r1", "nlu_processing", "failed"),
    ]
    assert all(e["content"] is None and "secret" not in json.dumps(e) for e in events)

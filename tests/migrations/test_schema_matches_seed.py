"""The migrated schema equals the seed document's, item by item, but for named deviations."""

from __future__ import annotations

import pytest

from tests.migrations.catalog import snapshot
from tests.migrations.seed_sql import SEED_DOC, apply_seed, seed_statements
from tests.support import connect, migrate, scratch_database

# Every difference between `alembic upgrade head` and the seed's SQL, with its reason.
DELIBERATE_DEVIATIONS: dict[tuple[object, ...], str] = {
    ("column", "content_requests", "deleted_at", "timestamp with time zone", False, None): (
        "002: the seed's daily cleanup sets content_requests.deleted_at, which the seed table lacks"
    ),
    (
        "index",
        "content_requests",
        "idx_content_requests_retention",
        "CREATE INDEX idx_content_requests_retention ON public.content_requests USING btree "
        "(created_at) WHERE ((deleted_at IS NULL) AND "
        "(status = ANY (ARRAY['completed'::request_status, 'failed'::request_status])))",
    ): "002: the retention job's partial index",
    ("column", "content_requests", "idempotency_key", "character varying(100)", False, None): (
        "004: an API service's retry key, so a retried submit returns the first request"
    ),
    (
        "index",
        "content_requests",
        "idx_content_requests_idempotency",
        "CREATE UNIQUE INDEX idx_content_requests_idempotency ON public.content_requests "
        "USING btree (student_id, idempotency_key) WHERE (idempotency_key IS NOT NULL)",
    ): "004: one request per student and key",
    ("column", "bulk_upload_jobs", "file_deleted_at", "timestamp with time zone", False, None): (
        "005: an uploaded CSV is deleted from storage after its job ends; this records it"
    ),
    (
        "index",
        "bulk_upload_jobs",
        "idx_bulk_upload_jobs_file_kept",
        "CREATE INDEX idx_bulk_upload_jobs_file_kept ON public.bulk_upload_jobs USING btree "
        "(completed_at) WHERE ((file_deleted_at IS NULL) AND "
        "(status = ANY (ARRAY['completed'::job_status, 'failed'::job_status])))",
    ): "005: the upload-file retention sweep's partial index",
    (
        "index",
        "content_requests",
        "idx_content_requests_scrub",
        "CREATE INDEX idx_content_requests_scrub ON public.content_requests USING btree "
        "(deleted_at) WHERE ((deleted_at IS NOT NULL) AND (NOT (metadata ? 'scrubbed_at'::text)))",
    ): "005: the student-text scrub sweep's partial index",
    ("extension", "pgcrypto"): "001: generate_id() calls gen_random_bytes() from pgcrypto",
}
# Tables the seed does not have, each with its reason: every item of theirs (columns,
# constraints, indexes) is part of that one deviation.
DEVIATING_TABLES: dict[str, str] = {
    "request_execution": (
        "003: the runner's execution state (lease by the database clock, claims, crashes, "
        "attempts, last dispatch) in columns beside content_requests, not in its JSONB"
    ),
}


def _of_deviating_table(item: tuple[object, ...]) -> bool:
    return item[0] in {"table", "column", "constraint", "index"} and item[1] in DEVIATING_TABLES


@pytest.fixture(scope="module")
def catalogs() -> tuple[set[tuple[object, ...]], set[tuple[object, ...]]]:
    doc = SEED_DOC.read_text(encoding="utf-8")
    with scratch_database("vividly_seedsql") as seed_db, scratch_database() as mig_db:
        with connect(seed_db) as conn:
            apply_seed(conn, doc)
            seed_items = snapshot(conn)
        migrate(mig_db)
        with connect(mig_db) as conn:
            migrated_items = snapshot(conn)
    return seed_items, migrated_items


def test_seed_document_has_the_ddl_we_compare_against() -> None:
    stmts = seed_statements(SEED_DOC.read_text(encoding="utf-8"))
    tables = [s for s in stmts if s.upper().startswith("CREATE TABLE")]
    assert len(tables) == 14
    assert sum(s.upper().startswith("CREATE TYPE") for s in stmts) == 8


def test_migrated_schema_has_nothing_the_seed_lacks_but_named_deviations(catalogs) -> None:
    seed_items, migrated_items = catalogs
    extra = migrated_items - seed_items
    side = {i for i in extra if _of_deviating_table(i)}
    assert {("table", t) for t in DEVIATING_TABLES} <= side
    extra -= side
    assert extra == set(DELIBERATE_DEVIATIONS), sorted(map(str, extra ^ set(DELIBERATE_DEVIATIONS)))


def test_migrated_schema_lacks_nothing_of_the_seed(catalogs) -> None:
    seed_items, migrated_items = catalogs
    assert sorted(map(str, seed_items - migrated_items)) == []


def test_every_table_with_updated_at_has_its_trigger(catalogs) -> None:
    _, migrated_items = catalogs
    with_updated_at = {i[1] for i in migrated_items if i[0] == "column" and i[2] == "updated_at"}
    triggered = {i[1] for i in migrated_items if i[0] == "trigger"}
    assert len(with_updated_at) == 11
    assert with_updated_at == triggered

"""The migrated schema equals the seed document's, item by item, but for named deviations."""

from __future__ import annotations

import importlib
import re

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
    (
        "trigger",
        "content_requests",
        "content_requests_status_events",
        "CREATE TRIGGER content_requests_status_events AFTER INSERT OR UPDATE OF status ON "
        "public.content_requests FOR EACH ROW EXECUTE FUNCTION notify_request_status()",
    ): "007: every committed status change is NOTIFYed, for live progress events",
    (
        "index",
        "content_requests",
        "idx_content_requests_inflight_leader",
        "CREATE INDEX idx_content_requests_inflight_leader ON public.content_requests USING "
        "btree (((metadata ->> 'cache_key'::text))) WHERE (((metadata ->> 'role'::text) = "
        "'leader'::text) AND (deleted_at IS NULL) AND (status = ANY (ARRAY["
        "'generating_script'::request_status, 'generating_audio'::request_status, "
        "'fast_path_ready'::request_status, 'generating_video'::request_status])))",
    ): "008: a cache miss finds the leader of its key without reading every generating request",
    (
        "index",
        "content_requests",
        "idx_content_requests_followers",
        "CREATE INDEX idx_content_requests_followers ON public.content_requests USING btree "
        "(((metadata ->> 'leader_id'::text))) WHERE ((metadata ->> 'role'::text) = "
        "'follower'::text)",
    ): "008: a leader's outcome finds its followers without reading every unfinished request",
}
# 007's trigger function, as PostgreSQL prints the migration's own source.
_BODY_007 = importlib.import_module("migrations.versions.007_request_status_events")
DELIBERATE_DEVIATIONS[
    (
        "function",
        "notify_request_status",
        "",
        "CREATE OR REPLACE FUNCTION public.notify_request_status()\n RETURNS trigger\n"
        " LANGUAGE plpgsql\nAS $function$" + _BODY_007.FUNCTION.split("$$")[1] + "$function$\n",
    )
] = "007: the trigger's function (ids, statuses, time and content locations only)"
# Tables the seed does not have, each with its reason: every item of theirs (columns,
# constraints, indexes) is part of that one deviation.
DEVIATING_TABLES: dict[str, str] = {
    "request_execution": (
        "003: the runner's execution state (lease by the database clock, claims, crashes, "
        "attempts, last dispatch) in columns beside content_requests, not in its JSONB"
    ),
}


# 006: audit_logs' partitions, one per year and a default: each partition's columns,
# constraints and indexes are the parent's, inherited.
AUDIT_PARTITION = re.compile(r"audit_logs_(y\d{4}|default)")
# 006: audit_logs itself becomes a partitioned table. Its key must hold the partition key,
# so the seed's PRIMARY KEY (id) becomes (id, created_at) and created_at NOT NULL; its
# indexes are partitioned indexes ("ON ONLY"). These seed items are replaced by those.
REPLACED_BY_006 = {
    ("column", "audit_logs", "created_at", "timestamp with time zone", True, "CURRENT_TIMESTAMP"),
    ("constraint", "audit_logs", "audit_logs_pkey", "p", "PRIMARY KEY (id, created_at)"),
    *(
        (
            "index",
            "audit_logs",
            name,
            f"CREATE {kind}INDEX {name} ON ONLY public.audit_logs USING btree ({cols})",
        )
        for name, kind, cols in (
            ("audit_logs_pkey", "UNIQUE ", "id, created_at"),
            ("idx_audit_logs_user", "", "user_id, created_at DESC"),
            ("idx_audit_logs_resource", "", "resource_type, resource_id"),
            ("idx_audit_logs_created", "", "created_at DESC"),
        )
    ),
}


def _replaced_in_seed(item: tuple[object, ...]) -> bool:
    """The seed's own items that REPLACED_BY_006 stands in for."""
    return item[1] == "audit_logs" and (
        item[0] == "index"
        or (item[0] == "constraint" and item[2] == "audit_logs_pkey")
        or (item[0] == "column" and item[2] == "created_at")
    )


def _of_deviating_table(item: tuple[object, ...]) -> bool:
    return item[0] in {"table", "column", "constraint", "index"} and (
        item[1] in DEVIATING_TABLES or bool(AUDIT_PARTITION.fullmatch(str(item[1])))
    )


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
    expected = set(DELIBERATE_DEVIATIONS) | REPLACED_BY_006
    assert extra == expected, sorted(map(str, extra ^ expected))


def test_migrated_schema_lacks_nothing_of_the_seed(catalogs) -> None:
    seed_items, migrated_items = catalogs
    missing = seed_items - migrated_items
    replaced = {i for i in missing if _replaced_in_seed(i)}
    assert len(replaced) == 6  # created_at, the key and its index, the three indexes
    assert sorted(map(str, missing - replaced)) == []


def test_every_table_with_updated_at_has_its_trigger(catalogs) -> None:
    _, migrated_items = catalogs
    with_updated_at = {i[1] for i in migrated_items if i[0] == "column" and i[2] == "updated_at"}
    triggered = {i[1] for i in migrated_items if i[0] == "trigger"}
    assert len(with_updated_at) == 11
    assert with_updated_at == triggered

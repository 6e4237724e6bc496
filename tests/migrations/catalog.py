"""Snapshot of a database's schema from pg_catalog, as sets of comparable items."""

from __future__ import annotations

import psycopg

CATALOG_QUERIES: dict[str, str] = {
    "table": """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
    """,
    "column": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0
          AND NOT a.attisdropped
    """,
    "constraint": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
    """,
    "index": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
    """,
    "enum": """
        SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public'
        GROUP BY t.typname
    """,
    "function": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
        WHERE n.nspname = 'public' AND d.objid IS NULL
    """,
    "trigger": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND NOT t.tgisinternal
    """,
    "extension": "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'",
    "sequence": """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'S'
    """,
}

# Alembic's own bookkeeping is not part of the schema contract.
IGNORED_TABLES = {"alembic_version"}


def snapshot(conn: psycopg.Connection) -> set[tuple[object, ...]]:
    items: set[tuple[object, ...]] = set()
    for kind, sql in CATALOG_QUERIES.items():
        for row in conn.execute(sql).fetchall():
            if kind != "extension" and kind != "enum" and row[0] in IGNORED_TABLES:
                continue
            items.add((kind, *row))
    return items


def tables_with_column(conn: psycopg.Connection, column: str) -> list[str]:
    rows = conn.execute(
        """SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = %s
           ORDER BY 1""",
        (column,),
    ).fetchall()
    return [r[0] for r in rows]

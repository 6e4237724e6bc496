"""The seed document's DDL, extracted from ../shared/seed/DATABASE_SCHEMA.md and applied."""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
SEED_DOC = Path(os.environ.get("VIVIDLY_SEED_DOC", REPO.parent / "shared/seed/DATABASE_SCHEMA.md"))

SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.S)


def seed_statements(doc: str) -> list[str]:
    """Every CREATE statement of the document's SQL blocks, in document order."""
    out: list[str] = []
    for block in SQL_BLOCK.findall(doc):
        lines = [line for line in block.splitlines() if not line.lstrip().startswith("--")]
        current: list[str] = []
        in_body = False
        for line in lines:
            current.append(line)
            in_body ^= line.count("$$") % 2 == 1
            if not in_body and line.rstrip().endswith(";"):
                stmt = "\n".join(current).strip()
                current = []
                if stmt.upper().startswith("CREATE"):
                    out.append(stmt)
    return out


def apply_seed(conn: psycopg.Connection, doc: str) -> list[str]:
    """Run the seed's DDL; statements that fail on order (a table referenced before it is
    created) are retried after the others. Then follow the seed's own instruction
    "repeat for all tables with updated_at". Returns the statements run, in run order."""
    pending = seed_statements(doc)
    done: list[str] = []
    while pending:
        failed: list[tuple[str, Exception]] = []
        for stmt in pending:
            try:
                with conn.transaction():
                    conn.execute(stmt)
                done.append(stmt)
            except psycopg.errors.UndefinedTable as e:
                failed.append((stmt, e))
        if len(failed) == len(pending):
            raise RuntimeError(f"seed DDL does not apply: {failed[0][1]}")
        pending = [s for s, _ in failed]
    from tests.migrations.catalog import tables_with_column

    existing = {r[0] for r in conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    for table in tables_with_column(conn, "updated_at"):
        name = f"update_{table}_updated_at"
        if name not in existing:
            stmt = (
                f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION update_updated_at_column()"
            )
            conn.execute(stmt)
            done.append(stmt)
    return done

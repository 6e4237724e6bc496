"""The tables whose old rows retention archives and then deletes outright: feedback row
by row, audit_logs a year at a time (its yearly partitions, migration 006; rows that
fell into the default partition row by row).

One idiom: plain SQL in `text()`, every table name checked before it is spliced in.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

HARD_DELETED_TABLES = frozenset({"feedback", "audit_logs_default"})
_YEAR_PARTITION = re.compile(r"audit_logs_y(\d{4})")
_AUDIT_PARTITIONS = text("""
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit_logs'::regclass ORDER BY c.relname
""")


def _hard_deleted(table: str) -> str:
    if table not in HARD_DELETED_TABLES:
        raise ValueError(f"{table!r} is not a table retention deletes from")
    return table


class LogTables:
    def __init__(self, conn: AsyncConnection) -> None:
        self.s = conn

    async def created_before(
        self, table: str, cutoff: datetime, limit: int
    ) -> list[dict[str, Any]]:
        sql = text(f"""
            SELECT * FROM {_hard_deleted(table)} WHERE created_at < :cutoff
            ORDER BY created_at, id LIMIT :limit FOR UPDATE SKIP LOCKED
        """)
        rows = await self.s.execute(sql, {"cutoff": cutoff, "limit": limit})
        return [dict(r._mapping) for r in rows]

    async def delete(self, table: str, ids: list[Any]) -> int:
        sql = text(f"DELETE FROM {_hard_deleted(table)} WHERE id = ANY(:ids)")
        result = await self.s.execute(sql, {"ids": ids})
        return int(getattr(result, "rowcount", 0) or 0)

    # ---- audit_logs' yearly partitions --------------------------------------------------

    async def audit_years(self) -> list[int]:
        """The years that have a partition of their own."""
        names = (await self.s.execute(_AUDIT_PARTITIONS)).scalars()
        return [int(m.group(1)) for n in names if (m := _YEAR_PARTITION.fullmatch(n))]

    async def add_audit_year(self, year: int) -> None:
        """The partition for one UTC year, made ahead of time (so rows never land in the
        default partition, which a new partition's range may not overlap)."""
        await self.s.execute(
            text(f"""
            CREATE TABLE IF NOT EXISTS {_partition(year)} PARTITION OF audit_logs
            FOR VALUES FROM ('{year:04d}-01-01 00:00:00+00') TO ('{year + 1:04d}-01-01 00:00:00+00')
        """)
        )

    async def audit_year_rows(self, year: int, after_id: int, limit: int) -> list[dict[str, Any]]:
        sql = text(f"SELECT * FROM {_partition(year)} WHERE id > :after ORDER BY id LIMIT :limit")
        rows = await self.s.execute(sql, {"after": after_id, "limit": limit})
        return [dict(r._mapping) for r in rows]

    async def drop_audit_year(self, year: int) -> None:
        """Detach the year's partition and drop it: one catalog change, no row deletes."""
        name = _partition(year)
        await self.s.execute(text(f"ALTER TABLE audit_logs DETACH PARTITION {name}"))
        await self.s.execute(text(f"DROP TABLE {name}"))


def _partition(year: int) -> str:
    if not 1970 <= year <= 9998:
        raise ValueError(f"no audit_logs partition for year {year}")
    return f"audit_logs_y{year:04d}"

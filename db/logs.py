"""The tables whose old rows retention archives and then deletes outright (feedback,
audit_logs): one statement shape for each, in bounded batches.

One idiom: plain SQL in `text()`, the table name checked against the list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

HARD_DELETED_TABLES = frozenset({"feedback", "audit_logs"})


def _hard_deleted(table: str) -> str:
    if table not in HARD_DELETED_TABLES:
        raise ValueError(f"{table!r} is not a table retention deletes from")
    return table


class LogTables:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

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

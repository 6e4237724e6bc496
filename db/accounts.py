"""Statements of account retention on users and classes: expired reset tokens, and the
accounts of organisations whose contract ended.

One idiom: plain SQL in `text()`; every statement touches at most `limit` rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_CLEAR_RESET_TOKENS = text("""
    UPDATE users SET reset_token = NULL, reset_token_expires_at = NULL
    WHERE id IN (
        SELECT id FROM users WHERE reset_token_expires_at < now()
        LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING id
""")
# Where an organisation's contract end lives: organizations.metadata->>'contract_end_date'
# (an ISO date, as text); a district's date covers its schools. It is parsed by the
# caller, so one malformed date is reported instead of failing the cast for everyone.
_CONTRACT_END_DATES = text("""
    SELECT id, parent_id, metadata->'contract_end_date' AS contract_end_date
    FROM organizations WHERE metadata ? 'contract_end_date' OR parent_id IS NOT NULL
""")
_USERS_OF_ORGS = text("""
    SELECT id, role::text AS role, org_id FROM users
    WHERE org_id = ANY(:orgs)
    ORDER BY (role = 'student') DESC, id
    LIMIT :limit FOR UPDATE SKIP LOCKED
""")
_DELETE_CLASSES_OF_TEACHERS = text("DELETE FROM classes WHERE teacher_id = ANY(:ids)")
_DELETE_USERS = text("DELETE FROM users WHERE id = ANY(:ids)")


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class AccountStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.s = conn

    async def clear_expired_reset_tokens(self, limit: int) -> list[str]:
        return [r[0] for r in await self.s.execute(_CLEAR_RESET_TOKENS, {"limit": limit})]

    async def contract_end_dates(self) -> list[tuple[str, str | None, object]]:
        """(organisation id, parent id, contract_end_date as stored: any JSON value)."""
        rows = await self.s.execute(_CONTRACT_END_DATES)
        return [(r.id, r.parent_id, r.contract_end_date) for r in rows]

    async def users_of_orgs(self, org_ids: list[str], limit: int) -> list[dict[str, Any]]:
        rows = await self.s.execute(_USERS_OF_ORGS, {"orgs": org_ids, "limit": limit})
        return [dict(r._mapping) for r in rows]

    async def delete_classes_of_teachers(self, teacher_ids: list[str]) -> int:
        """classes.teacher_id is ON DELETE RESTRICT: a teacher's classes go first (their
        enrolments and account requests cascade)."""
        return _rowcount(await self.s.execute(_DELETE_CLASSES_OF_TEACHERS, {"ids": teacher_ids}))

    async def delete_users(self, ids: list[str]) -> int:
        return _rowcount(await self.s.execute(_DELETE_USERS, {"ids": ids}))

"""Statements of account retention on users and classes: expired reset tokens, and the
accounts of organisations whose contract ended.

One idiom: plain SQL in `text()`; every statement touches at most `limit` rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_CLEAR_RESET_TOKENS = text("""
    UPDATE users SET reset_token = NULL, reset_token_expires_at = NULL
    WHERE id IN (
        SELECT id FROM users WHERE reset_token_expires_at < now()
        LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING id
""")
# Where an organisation's contract end lives: organizations.metadata->>'contract_end_date'
# (an ISO date). A district's date covers its schools.
_USERS_OF_ENDED_CONTRACTS = text("""
    WITH ended AS (
        SELECT id FROM organizations
        WHERE (metadata->>'contract_end_date') IS NOT NULL
          AND (metadata->>'contract_end_date')::date
              < (now() - make_interval(days => :grace))::date
    ), orgs AS (
        SELECT o.id FROM organizations o
        WHERE o.id IN (SELECT id FROM ended) OR o.parent_id IN (SELECT id FROM ended)
    )
    SELECT id, role::text AS role, org_id FROM users
    WHERE org_id IN (SELECT id FROM orgs)
    ORDER BY (role = 'student') DESC, id
    LIMIT :limit FOR UPDATE SKIP LOCKED
""")
_DELETE_CLASSES_OF_TEACHERS = text("DELETE FROM classes WHERE teacher_id = ANY(:ids)")
_DELETE_USERS = text("DELETE FROM users WHERE id = ANY(:ids)")


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class AccountStore:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def clear_expired_reset_tokens(self, limit: int) -> list[str]:
        return [r[0] for r in await self.s.execute(_CLEAR_RESET_TOKENS, {"limit": limit})]

    async def users_of_ended_contracts(self, grace_days: int, limit: int) -> list[dict[str, Any]]:
        rows = await self.s.execute(
            _USERS_OF_ENDED_CONTRACTS, {"grace": grace_days, "limit": limit}
        )
        return [dict(r._mapping) for r in rows]

    async def delete_classes_of_teachers(self, teacher_ids: list[str]) -> int:
        """classes.teacher_id is ON DELETE RESTRICT: a teacher's classes go first (their
        enrolments and account requests cascade)."""
        return _rowcount(await self.s.execute(_DELETE_CLASSES_OF_TEACHERS, {"ids": teacher_ids}))

    async def delete_users(self, ids: list[str]) -> int:
        return _rowcount(await self.s.execute(_DELETE_USERS, {"ids": ids}))

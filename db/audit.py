"""audit_logs writes: what the pipeline's operators and jobs did, never student text.

One idiom: plain SQL in `text()`.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# The actor's role is read from users at the same moment; a job has no user and acts as
# vividly_ops.
_RECORD = text("""
    INSERT INTO audit_logs (user_id, user_role, action, resource_type, resource_id, metadata)
    VALUES (CAST(:user_id AS text),
            CASE WHEN CAST(:user_id AS text) IS NULL THEN CAST('vividly_ops' AS user_role)
                 ELSE (SELECT role FROM users WHERE id = CAST(:user_id AS text)) END,
            :action, :rtype, :rid, CAST(:meta AS jsonb))
""")


class AuditTrail:
    def __init__(self, conn: AsyncConnection) -> None:
        self.s = conn

    async def record(
        self,
        action: str,
        resource_type: str,
        resource_id: str | None,
        metadata: dict[str, Any],
        *,
        user_id: str | None = None,
    ) -> None:
        params = {
            "user_id": user_id,
            "action": action,
            "rtype": resource_type,
            "rid": resource_id,
            "meta": json.dumps(metadata),
        }
        await self.s.execute(_RECORD, params)

"""The stores of one unit of work (one session), as the stage path and the API use them.

Each aggregate's SQL lives in its own module: requests.py (content_requests and its
execution rows), content.py, catalog.py, locks.py; the ops tasks and jobs use uploads.py,
feedback.py, audit.py, accounts.py and logs.py directly.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from db.catalog import CatalogStore
from db.content import ContentStore
from db.locks import Locks
from db.requests import RequestStore


class Repository:
    def __init__(self, session: AsyncSession, requests: RequestStore | None = None) -> None:
        self.session = session
        self.requests = requests or RequestStore(session)
        self.content = ContentStore(session)
        self.catalog = CatalogStore(session)
        self.locks = Locks(session)

"""The stores of one unit of work (one connection), as the stage path and the API use them.

Each aggregate's SQL lives in its own module: requests.py (content_requests and its
execution rows), content.py, catalog.py, locks.py; the ops tasks and jobs use uploads.py,
feedback.py, audit.py, accounts.py and logs.py directly.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from db.catalog import CatalogStore
from db.content import ContentStore
from db.locks import Locks
from db.requests import RequestStore


class Repository:
    def __init__(self, conn: AsyncConnection, requests: RequestStore | None = None) -> None:
        self.conn = conn
        self.requests = requests or RequestStore(conn)
        self.content = ContentStore(conn)
        self.catalog = CatalogStore(conn)
        self.locks = Locks(conn)

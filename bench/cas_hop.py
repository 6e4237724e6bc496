"""The second baseline of bench/pipeline_bench.py, loaded into its worker with `-I`: a
task that does the least a durable state machine must do per hop, one compare-and-set
UPDATE on a row in its own transaction, on the worker's own loop and engine."""

from __future__ import annotations

from sqlalchemy import text

from workers.app import app
from workers.runtime import get_runtime
from workers.tasks import noop

TABLE = "bench_hops"
CREATE = f"CREATE TABLE IF NOT EXISTS {TABLE} (id text PRIMARY KEY, hop int NOT NULL)"
_HOP = text(f"UPDATE {TABLE} SET hop = :to WHERE id = :id AND hop = :from")


@app.task(name="bench.cas_hop", acks_late=True)
def cas_hop(row_id: str, hop: int, counter_key: str | None = None) -> None:
    rt = get_runtime()

    async def advance() -> None:
        async with rt.engine.begin() as conn:
            await conn.execute(_HOP, {"id": row_id, "from": hop, "to": hop + 1})

    rt.run(advance())
    if counter_key:
        noop(counter_key)

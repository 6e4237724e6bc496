"""The baselines of bench/pipeline_bench.py beside the bare chain, loaded into its worker
with `-I`: tasks that do the least a durable state machine must do per hop, one
compare-and-set UPDATE on a row in its own transaction, on the worker's own loop and
engine; and the same with the storage operations the state machine's stages do on a
cache miss, so the two differences (state machine against each) tell machinery from the
lesson files' own cost."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from workers.app import app
from workers.runtime import get_runtime
from workers.tasks import noop

TABLE = "bench_hops"
CREATE = f"CREATE TABLE IF NOT EXISTS {TABLE} (id text PRIMARY KEY, hop int NOT NULL)"
_HOP = text(f"UPDATE {TABLE} SET hop = :to WHERE id = :id AND hop = :from")

# By hop (the state machine's stage at that place in the chain): objects read, then
# objects written side by side. script: the lesson; audio: the lesson read, the audio and
# its four narration files written; video: the lesson, timings and audio read, the video,
# thumbnail and page written (instant media: small objects, as these are).
STORAGE_PER_HOP = {3: (0, 1), 4: (1, 5), 5: (3, 3)}
OBJECT = b"x" * 4096


@app.task(name="bench.cas_hop", acks_late=True)
def cas_hop(row_id: str, hop: int, counter_key: str | None = None) -> None:
    _advance(row_id, hop, counter_key, with_storage=False)


@app.task(name="bench.cas_hop_storage", acks_late=True)
def cas_hop_storage(row_id: str, hop: int, counter_key: str | None = None) -> None:
    _advance(row_id, hop, counter_key, with_storage=True)


def _advance(row_id: str, hop: int, counter_key: str | None, with_storage: bool) -> None:
    rt = get_runtime()
    storage = rt.context.providers.storage

    async def advance() -> None:
        if with_storage:
            reads, writes = STORAGE_PER_HOP.get(hop, (0, 0))
            keys = [f"bench/{row_id}/{i}" for i in range(max(reads, writes))]
            read = [storage.get_bytes(storage.location_for(k)) for k in keys[:reads]]
            await asyncio.gather(*read)
            written = [storage.put_bytes(k, OBJECT, "text/plain") for k in keys[:writes]]
            await asyncio.gather(*written)
        async with rt.engine.begin() as conn:
            await conn.execute(_HOP, {"id": row_id, "from": hop, "to": hop + 1})

    rt.run(advance())
    if counter_key:
        noop(counter_key)

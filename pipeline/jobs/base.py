"""What every job shares: its result and the size of its bounded batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.dispatch import Dispatch

# Rows per transaction: small enough that no statement holds many row locks for long.
SWEEP_BATCH_SIZE = 500
# A run stops after this many batches; the next run picks up the rest.
MAX_BATCHES_PER_RUN = 200


@dataclass
class JobResult:
    job: str
    changed: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    dispatches: list[Dispatch] = field(default_factory=list)
    # Other tasks to send after the job's transactions: (public task name, its one id).
    tasks: list[tuple[str, str]] = field(default_factory=list)
    locked: bool = False  # another run held the job's lock: nothing was done

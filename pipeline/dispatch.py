"""A task to send once the transaction that decided it has committed."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.states import Stage


@dataclass(frozen=True)
class Dispatch:
    stage: Stage
    request_id: str

"""Per-stage time limits (SPEC "Stage limits and retries"), in seconds: (soft, hard)."""

from __future__ import annotations

from pipeline.states import Stage

TIME_LIMITS: dict[Stage, tuple[float, float]] = {
    Stage.nlu: (25.0, 30.0),
    Stage.cache_check: (4.0, 5.0),
    Stage.script: (110.0, 120.0),
    Stage.audio: (55.0, 60.0),
    Stage.video: (570.0, 600.0),
}

HARD_LIMITS: dict[Stage, float] = {stage: hard for stage, (_, hard) in TIME_LIMITS.items()}

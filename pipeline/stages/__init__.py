"""The five stages, each one small class; SPECS maps a Stage to its implementation."""

from __future__ import annotations

from typing import Any

from pipeline.runner import StageSpec
from pipeline.stages.audio import AudioStage
from pipeline.stages.cache import CacheCheckStage
from pipeline.stages.nlu import NluStage
from pipeline.stages.script import ScriptStage
from pipeline.stages.video import VideoStage
from pipeline.states import Stage

SPECS: dict[Stage, StageSpec[Any]] = {
    Stage.nlu: NluStage(),
    Stage.cache_check: CacheCheckStage(),
    Stage.script: ScriptStage(),
    Stage.audio: AudioStage(),
    Stage.video: VideoStage(),
}

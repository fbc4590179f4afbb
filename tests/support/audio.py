"""Tones to send and a detector for what was heard, shared by the audio tests."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from av import AudioFrame

RATE = 48_000


def tone(frequency: float, seconds: float, rate: int = RATE, amplitude: float = 0.4) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def write_tone_wav(path: Path, frequency: float, seconds: float = 10.0) -> Path:
    samples = tone(frequency, seconds)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return path


def level_at(samples: np.ndarray, frequency: float, rate: int = RATE) -> float:
    """How loud `frequency` is, in dB relative to full scale (a full-scale sine is 0 dB).

    Silence reads about -100 dB; a tone at 40% of full scale reads about -8 dB.
    """
    if len(samples) < rate // 10:
        return -120.0
    window = np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * window))
    full_scale = 32767 * window.sum() / 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    band = (freqs > frequency - 10) & (freqs < frequency + 10)
    return float(20 * np.log10(spectrum[band].max() / full_scale + 1e-6))


def to_mono(frame: AudioFrame) -> np.ndarray:
    """aiortc decodes to interleaved s16 stereo; the left channel is the voice."""
    samples = frame.to_ndarray().reshape(-1)
    if frame.layout.name == "stereo" or len(samples) == 2 * frame.samples:
        samples = samples[::2]
    return samples.astype(np.int16, copy=False)

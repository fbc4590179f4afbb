"""The ringback tone a caller hears while the people they called are rung (Twilio's wait URL plays it),
and the tone that tells a transferred caller the transfer was not answered.

Made here rather than shipped as a recording: North American ringback is two
sine waves, 440 Hz and 480 Hz, two seconds on and four off; one cycle, which
Twilio loops. 8 kHz, 16-bit mono PCM: the telephone's own rate, in a WAV file
Twilio's <Play> takes. The failed-transfer tone is the special information
tone: 950, 1400 and 1800 Hz, a third of a second each, then a second of silence.
"""

from __future__ import annotations

import io
import wave

import numpy as np

RATE = 8000
FREQUENCIES = (440.0, 480.0)
ON_SECONDS, OFF_SECONDS = 2, 4
# Each wave at about -12 dBFS: as loud as a telephone's ringback, well clear of clipping together.
AMPLITUDE = 0.25


FAILED_FREQUENCIES = (950.0, 1400.0, 1800.0)
FAILED_STEP_SECONDS = 0.33


def ringback_wav() -> bytes:
    """One cycle of ringback as a WAV file."""
    return wav(np.concatenate([_tone(FREQUENCIES, ON_SECONDS), np.zeros(OFF_SECONDS * RATE)]))


def transfer_failed_wav() -> bytes:
    """The special information tone, once, as a WAV file."""
    return wav(np.concatenate([*(_tone((f,), FAILED_STEP_SECONDS) for f in FAILED_FREQUENCIES), np.zeros(RATE)]))


def _tone(frequencies: tuple[float, ...], seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return np.round(sum(AMPLITUDE * np.sin(2 * np.pi * f * t) for f in frequencies) * 32767)


def wav(samples: np.ndarray) -> bytes:
    """8 kHz samples as a WAV file Twilio's <Play> takes (also the music on hold the app hands the webhooks)."""
    samples = samples.astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()

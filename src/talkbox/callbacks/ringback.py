"""The ringback tone a caller hears while the people they called are rung (Twilio's wait URL plays it).

Made here rather than shipped as a recording: North American ringback is two
sine waves, 440 Hz and 480 Hz, two seconds on and four off; one cycle, which
Twilio loops. 8 kHz, 16-bit mono PCM: the telephone's own rate, in a WAV file
Twilio's <Play> takes.
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


def ringback_wav() -> bytes:
    """One cycle of ringback as a WAV file."""
    t = np.arange(ON_SECONDS * RATE) / RATE
    tone = sum(AMPLITUDE * np.sin(2 * np.pi * f * t) for f in FREQUENCIES)
    return wav(np.concatenate([np.round(tone * 32767), np.zeros(OFF_SECONDS * RATE)]))


def wav(samples: np.ndarray) -> bytes:
    """8 kHz samples as a WAV file Twilio's <Play> takes (also the music on hold the app hands the webhooks)."""
    samples = samples.astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(samples.tobytes())
    return buffer.getvalue()

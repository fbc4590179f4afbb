"""The tones Talkbox itself plays into a call, generated: no audio files ship, nothing is fetched.

Their pitches are far from the 300-1000 Hz of the test suite's voices, so a test can tell them apart.
"""

from __future__ import annotations

import io
import wave

import numpy as np

from talkbox.media import g711
from talkbox.media.opus import SAMPLE_RATE

# Two short high beeps: the call is now being recorded (what telephones hear; browsers too).
ANNOUNCEMENT_HZ = 1400.0
# One longer beep: after it, the caller's message is recorded (the answering machine's beep).
GREETING_HZ = 1800.0


def beep(frequency: float, seconds: float, amplitude: float = 0.25) -> np.ndarray:
    """A sine with 10 ms fades, so it starts and stops without a click."""
    count = int(seconds * SAMPLE_RATE)
    wave = amplitude * 32767 * np.sin(2 * np.pi * frequency * np.arange(count) / SAMPLE_RATE)
    fade = min(count // 2, SAMPLE_RATE // 100)
    ramp = np.linspace(0.0, 1.0, fade)
    wave[:fade] *= ramp
    wave[count - fade :] *= ramp[::-1]
    return wave.astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def announcement() -> np.ndarray:
    beeps = (beep(ANNOUNCEMENT_HZ, 0.15), silence(0.1), beep(ANNOUNCEMENT_HZ, 0.15), silence(0.1))
    return np.concatenate(beeps)


def greeting() -> np.ndarray:
    return np.concatenate((silence(0.3), beep(GREETING_HZ, 0.6), silence(0.1)))


def named(name: str) -> np.ndarray:
    """The tone a recording starts with, by the name the engine's interface carries."""
    if name == "announcement":
        return announcement()
    if name == "greeting":
        return greeting()
    raise ValueError(f"no tone {name!r}")


def telephone_wav(samples: np.ndarray) -> bytes:
    """A tone as a telephone's WAV (8 kHz, 16-bit mono), for a provider that plays files (Twilio's <Play>)."""
    padded = np.pad(samples, (0, -len(samples) % g711.RATIO))
    narrow = g711.Downsampler().process(padded).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(g711.RATE)
        file.writeframes(narrow.tobytes())
    return out.getvalue()

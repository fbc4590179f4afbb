"""Every sound Talkbox itself makes, generated: no audio files ship, nothing is fetched.

Two families, one generator (`tone`):

- Sounds played to one leg instead of the call (`sound`): ringback, and the failed-transfer
  tone. Ringback is North America's (440 Hz with 480 Hz, two seconds on, four off), as the
  Twilio wait URL plays it. A failed transfer is told by the special information tone (950,
  1400 and 1800 Hz, a third of a second each: "your call did not go through"), a second of
  silence, then ringback while the transferor is rung again.
- The beeps a recording starts with, heard by everyone on the call: the announcement (the call
  is being recorded) and the voicemail greeting (speak after the beep). Their pitches are far
  from the 300-1000 Hz of the test suite's voices, so a test can tell them apart.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from typing import Literal

import numpy as np

from talkbox.media import g711
from talkbox.media.opus import FRAME_SAMPLES, SAMPLE_RATE

SoundName = Literal["ringback", "recall", "returned"]
RINGBACK = (440.0, 480.0)
RING_ON, RING_OFF = 2.0, 4.0
FAILED = (950.0, 1400.0, 1800.0)
FAILED_STEP = 0.33
# Two short high beeps: the call is now being recorded (what telephones hear; browsers too).
ANNOUNCEMENT_HZ = 1400.0
# One longer beep: after it, the caller's message is recorded (the answering machine's beep).
GREETING_HZ = 1800.0
# Each wave at about -12 dBFS: a telephone's ringback level, well clear of clipping when two sound together.
AMPLITUDE = 0.25


@dataclass
class Sound:
    """A sound played out one mixer frame at a time; from its end it goes on from `loop_from` (None: it is over)."""

    samples: np.ndarray  # int16 at the mixer's rate
    loop_from: int | None = 0
    position: int = 0

    @property
    def over(self) -> bool:
        return self.loop_from is None and self.position >= len(self.samples)

    def next(self) -> np.ndarray:
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES and not self.over:
            if self.position >= len(self.samples):
                assert self.loop_from is not None
                self.position = self.loop_from
            take = min(FRAME_SAMPLES - filled, len(self.samples) - self.position)
            frame[filled : filled + take] = self.samples[self.position : self.position + take]
            filled += take
            self.position += take
        return frame


def sound(name: SoundName) -> Sound:
    """A fresh `name`, from its start."""
    ringback = np.concatenate((tone(RINGBACK, RING_ON), silence(RING_OFF)))
    if name == "ringback":
        return Sound(ringback)
    failed = np.concatenate([*(tone((f,), FAILED_STEP) for f in FAILED), silence(1.0)])
    if name == "returned":
        return Sound(failed, loop_from=None)  # then the call it came back to
    return Sound(np.concatenate((failed, ringback)), loop_from=len(failed))


def announcement() -> np.ndarray:
    beep = tone((ANNOUNCEMENT_HZ,), 0.15)
    return np.concatenate((beep, silence(0.1), beep, silence(0.1)))


def greeting() -> np.ndarray:
    return np.concatenate((silence(0.3), tone((GREETING_HZ,), 0.6), silence(0.1)))


def named(name: str) -> np.ndarray:
    """The tone a recording starts with, by the name the engine's interface carries."""
    if name == "announcement":
        return announcement()
    if name == "greeting":
        return greeting()
    raise ValueError(f"no tone {name!r}")


def tone(frequencies: tuple[float, ...], seconds: float) -> np.ndarray:
    """Sines at `AMPLITUDE` each, with 10 ms fades so that it starts and stops without a click."""
    count = round(seconds * SAMPLE_RATE)
    t = np.arange(count) / SAMPLE_RATE
    wave = np.asarray(sum(AMPLITUDE * np.sin(2 * np.pi * f * t) for f in frequencies)) * 32767
    fade = min(count // 2, SAMPLE_RATE // 100)
    ramp = np.linspace(0.0, 1.0, fade)
    wave[:fade] *= ramp
    wave[count - fade :] *= ramp[::-1]
    return np.round(wave).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.int16)


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

"""Sounds the engine plays to one leg instead of the call: ringback, and the failed-transfer tone.

Generated rather than shipped as recordings. Ringback is North America's (440 Hz
with 480 Hz, two seconds on, four off), as the Twilio wait URL plays it. A
failed transfer is told by the special information tone (950, 1400 and 1800 Hz,
a third of a second each: "your call did not go through"), a second of
silence, then ringback while the transferor is rung again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from talkbox.media.opus import FRAME_SAMPLES, SAMPLE_RATE

SoundName = Literal["ringback", "recall"]
RINGBACK = (440.0, 480.0)
RING_ON, RING_OFF = 2.0, 4.0
FAILED = (950.0, 1400.0, 1800.0)
FAILED_STEP = 0.33
# Each wave at about -12 dBFS: a telephone's ringback level, well clear of clipping when two sound together.
AMPLITUDE = 0.25


@dataclass
class Sound:
    """A sound played out one mixer frame at a time; from its end it goes on from `loop_from`."""

    samples: np.ndarray  # int16 at the mixer's rate
    loop_from: int = 0
    position: int = 0

    def next(self) -> np.ndarray:
        frame = np.empty(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES:
            if self.position >= len(self.samples):
                self.position = self.loop_from
            take = min(FRAME_SAMPLES - filled, len(self.samples) - self.position)
            frame[filled : filled + take] = self.samples[self.position : self.position + take]
            filled += take
            self.position += take
        return frame


def sound(name: SoundName) -> Sound:
    """A fresh `name`, from its start."""
    ringback = np.concatenate((_sines(RINGBACK, RING_ON), _silence(RING_OFF)))
    if name == "ringback":
        return Sound(ringback)
    failed = np.concatenate([*(_sines((f,), FAILED_STEP) for f in FAILED), _silence(1.0)])
    return Sound(np.concatenate((failed, ringback)), loop_from=len(failed))


def _sines(frequencies: tuple[float, ...], seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = sum(AMPLITUDE * np.sin(2 * np.pi * f * t) for f in frequencies)
    return np.round(np.asarray(wave) * 32767).astype(np.int16)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.int16)

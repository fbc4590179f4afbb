"""Music on hold: a short, soft loop that Talkbox makes itself, so it ships with no audio file and no licence.

Eight seconds of four chords, two seconds each (C, G/C, Em/C, G/C), played by
sine voices with a slow attack and release so the loop has no clicks. Middle
C (`PEDAL_HZ`, 261.63 Hz) sounds under every chord for the whole loop: that is
the signal a test listens for to tell the music from the mix. The chords' notes
(`CHORDS`: 246.94, 293.66, 329.63, 392.00, 523.25, 587.33 Hz) keep 48 Hz or more
from the tones the tests give their microphones (440, 700, 1000 Hz): closer,
a browser's analyser (11.7 Hz bins) reads the note's skirt as the tone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from talkbox.media.opus import FRAME_SAMPLES, SAMPLE_RATE

PEDAL_HZ = 261.63
CHORDS: tuple[tuple[float, ...], ...] = (
    (329.63, 392.00, 523.25),  # C
    (293.66, 392.00, 587.33),  # G over C
    (246.94, 329.63, 392.00),  # E minor over C
    (293.66, 392.00, 587.33),  # G over C
)
CHORD_SECONDS = 2.0
# Below speech levels (about -26 dBFS overall), soft music rather than a test tone.
LEVEL = 0.12
_FADE_SECONDS = 0.15


@cache
def loop(rate: int = SAMPLE_RATE) -> np.ndarray:
    """The whole loop, int16: at the mixer's rate, a whole number of 20 ms frames long (or at 8 kHz, for Twilio)."""
    per_chord = int(CHORD_SECONDS * rate)
    t = np.arange(per_chord) / rate
    envelope = np.minimum(1.0, np.minimum(t, CHORD_SECONDS - t) / _FADE_SECONDS)
    pedal = np.sin(2 * np.pi * PEDAL_HZ * np.arange(per_chord * len(CHORDS)) / rate)
    chords = np.concatenate(
        [envelope * sum(np.sin(2 * np.pi * hz * t) for hz in chord) / len(chord) for chord in CHORDS]
    )
    # The pedal goes on through the chord changes, so the test signal never dips.
    samples = LEVEL * 32767 * (0.5 * pedal + 0.5 * chords)
    return samples.astype(np.int16)


@dataclass
class MusicOnHold:
    """One conference's place in the loop: every held leg of it hears the same frame, encoded once."""

    samples: np.ndarray = field(default_factory=loop)
    position: int = 0

    def next(self) -> np.ndarray:
        frame = self.samples[self.position : self.position + FRAME_SAMPLES]
        self.position = (self.position + FRAME_SAMPLES) % len(self.samples)
        return frame

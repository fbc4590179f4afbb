"""G.711 (PCMU and PCMA) and the 8 kHz <-> 48 kHz resampling between a telephone and the mixer.

Both laws are lookup tables built once with numpy from the ITU-T G.711 segment rules: encoding a 20 ms frame is
one fancy index over 160 samples (about a microsecond), so no codec library is needed and nothing depends on
`audioop`, which Python 3.13 removed.

The resamplers are polyphase FIR filters (a Kaiser-windowed sinc of 240 taps at 48 kHz, cut off at 4 kHz, about
80 dB down in the stopband). They are streaming: each keeps the tail of its input, so frame after frame joins
without a click, and each leg has its own pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import numpy as np

Law = Literal["PCMU", "PCMA"]
PAYLOAD_TYPES: dict[Law, int] = {"PCMU": 0, "PCMA": 8}
LAWS: dict[int, Law] = {number: law for law, number in PAYLOAD_TYPES.items()}
RATE = 8_000
RATIO = 6  # the mixer's 48 kHz over the telephone's 8 kHz
TAPS = 240
CUTOFF = 4_000.0
KAISER_BETA = 8.6

_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _every_sample() -> np.ndarray:
    """All 65536 int16 values, ordered by their uint16 bit pattern, so a table is indexed by `view(np.uint16)`."""
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)


def _ulaw_encode(x: np.ndarray) -> np.ndarray:
    x = x >> 2  # 14-bit
    mask = np.where(x < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), 8159) + 0x21
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude)
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment > 7, 0x7F, code)  # the clipped top of the range
    return (code ^ mask).astype(np.uint8)


def _ulaw_decode(code: np.ndarray) -> np.ndarray:
    inverted = ~code & 0xFF
    magnitude = (((inverted & 0x0F) << 3) + 0x84) << ((inverted >> 4) & 0x07)
    return np.where(inverted & 0x80, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


def _alaw_encode(x: np.ndarray) -> np.ndarray:
    x = x >> 3  # 13-bit
    negative = x < 0
    mask = np.where(negative, 0x55, 0xD5)
    magnitude = np.where(negative, -x - 1, x)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude)
    step = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((magnitude >> step) & 0x0F)
    return (code ^ mask).astype(np.uint8)


def _alaw_decode(code: np.ndarray) -> np.ndarray:
    flipped = code ^ 0x55
    segment = (flipped >> 4) & 0x07
    base = ((flipped & 0x0F) << 4) + np.where(segment == 0, 8, 0x108)
    magnitude = np.where(segment > 1, base << np.maximum(segment - 1, 0), base)
    return np.where(flipped & 0x80, magnitude, -magnitude).astype(np.int16)


@cache
def _tables(law: Law) -> tuple[np.ndarray, np.ndarray]:
    """(encode: 65536 codes indexed by the sample's bits, decode: 256 samples indexed by the code)."""
    codes = np.arange(256, dtype=np.int32)
    if law == "PCMU":
        return _ulaw_encode(_every_sample()), _ulaw_decode(codes)
    return _alaw_encode(_every_sample()), _alaw_decode(codes)


def encode(law: Law, samples: np.ndarray) -> bytes:
    """int16 samples at 8 kHz to one G.711 payload."""
    table, _ = _tables(law)
    return table[np.ascontiguousarray(samples, dtype=np.int16).view(np.uint16)].tobytes()


def decode(law: Law, payload: bytes) -> np.ndarray:
    """One G.711 payload to int16 samples at 8 kHz."""
    _, table = _tables(law)
    return table[np.frombuffer(payload, dtype=np.uint8)]


@cache
def _lowpass() -> np.ndarray:
    """The shared prototype filter at 48 kHz, unity gain at DC."""
    n = np.arange(TAPS) - (TAPS - 1) / 2
    cutoff = CUTOFF / (RATE * RATIO)
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(TAPS, KAISER_BETA)
    taps /= taps.sum()
    taps.flags.writeable = False
    return taps


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(samples), -32768, 32767).astype(np.int16)


@dataclass
class Upsampler:
    """8 kHz to 48 kHz: each input sample gives six outputs, one per phase of the filter."""

    _phases: np.ndarray = field(init=False, repr=False)  # (RATIO, TAPS // RATIO)
    _history: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Inserting five zeros between samples divides the level by six: the filter makes it back.
        self._phases = (_lowpass() * RATIO).reshape(-1, RATIO).T.copy()
        self._history = np.zeros(self._phases.shape[1] - 1)

    def process(self, samples: np.ndarray) -> np.ndarray:
        joined = np.concatenate((self._history, samples))
        self._history = joined[len(joined) - len(self._history) :]
        out = np.empty((len(samples), RATIO))
        for phase, taps in enumerate(self._phases):
            out[:, phase] = np.convolve(joined, taps, "valid")
        return _to_int16(out.reshape(-1))


@dataclass
class Downsampler:
    """48 kHz to 8 kHz: filter, keeping every sixth output. Input comes in whole mixer frames (multiples of six).

    Polyphase: the input is split into six interleaved streams, each filtered by its sixth of the taps at 8 kHz,
    so nothing is computed for the five outputs of six that are thrown away.
    """

    _phases: np.ndarray = field(init=False, repr=False)  # (RATIO, TAPS // RATIO)
    _history: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._phases = _lowpass().reshape(-1, RATIO).T.copy()
        self._history = np.zeros(TAPS - RATIO)

    def process(self, samples: np.ndarray) -> np.ndarray:
        if len(samples) % RATIO:
            raise ValueError(f"downsampling needs a multiple of {RATIO} samples")
        joined = np.concatenate((self._history, samples))
        self._history = joined[len(joined) - len(self._history) :]
        rows = joined.reshape(-1, RATIO)  # rows[q, r] is joined[6q + r]; output m sits at the end of row m + 39
        out = np.zeros(len(samples) // RATIO)
        for phase, taps in enumerate(self._phases):
            out += np.convolve(rows[:, RATIO - 1 - phase], taps, "valid")
        return _to_int16(out)

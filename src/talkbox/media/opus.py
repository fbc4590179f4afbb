"""libopus, called directly through cffi's ABI mode.

PyAV wraps libopus too, but it cannot conceal a lost packet or decode in-band
FEC, and its frame objects cost more than the codec itself. A mixer needs both
(a lost packet is concealed from the next one's FEC, or by PLC), so the
handful of libopus calls it uses are declared here against the system library
(Debian's libopus0) and nothing else.
"""

from __future__ import annotations

import ctypes.util
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from cffi import FFI

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms
MAX_PACKET = 1500
MAX_FRAME_SAMPLES = 5760  # 120 ms, the longest frame Opus has

_ffi = FFI()
_ffi.cdef(
    """
    typedef struct OpusEncoder OpusEncoder;
    typedef struct OpusDecoder OpusDecoder;
    OpusEncoder *opus_encoder_create(int32_t Fs, int channels, int application, int *error);
    void opus_encoder_destroy(OpusEncoder *st);
    int32_t opus_encode(OpusEncoder *st, const int16_t *pcm, int frame_size, unsigned char *data, int32_t max_bytes);
    int32_t opus_encode_float(OpusEncoder *st, const float *pcm, int frame_size, unsigned char *data,
                              int32_t max_bytes);
    int opus_encoder_ctl(OpusEncoder *st, int request, ...);
    OpusDecoder *opus_decoder_create(int32_t Fs, int channels, int *error);
    void opus_decoder_destroy(OpusDecoder *st);
    int opus_decode_float(OpusDecoder *st, const unsigned char *data, int32_t len, float *pcm, int frame_size,
                          int decode_fec);
    const char *opus_strerror(int error);
    const char *opus_get_version_string(void);
    """
)

APPLICATION_VOIP = 2048
APPLICATION_RESTRICTED_LOWDELAY = 2051
_SET_BITRATE = 4002
_SET_COMPLEXITY = 4010
_SET_INBAND_FEC = 4012
_SET_PACKET_LOSS_PERC = 4014
_SET_SIGNAL = 4024
_GET_LOOKAHEAD = 4027
_SIGNAL_VOICE = 3001


class OpusError(RuntimeError):
    """libopus refused: a bad packet, or a library that is missing."""


@cache
def _lib():  # type: ignore[no-untyped-def]
    path = ctypes.util.find_library("opus") or "libopus.so.0"
    try:
        return _ffi.dlopen(path)
    except OSError as error:
        raise OpusError(f"libopus not found ({error}): install Debian's libopus0") from error


def version() -> str:
    return _ffi.string(_lib().opus_get_version_string()).decode()


def _check(code: int) -> int:
    if code < 0:
        raise OpusError(_ffi.string(_lib().opus_strerror(code)).decode())
    return code


@dataclass
class Encoder:
    """Mono 48 kHz, 20 ms frames.

    CELT-only low-delay mode by default: a mixer re-encodes mixes, not raw
    voices, and CELT costs a third of hybrid mode for the same frame.
    Complexity 5 at 96 kbit/s, though the encode is 40% of a mixed
    conference's cost: below complexity 5 CELT's pitch pre-filter is off, and
    the noise between two loud voices rises by ~15 dB, enough for a listener
    to hear a hiss where a third voice would be (measured: bench/README.md).
    """

    bitrate: int = 96_000
    complexity: int = 5
    application: int = APPLICATION_RESTRICTED_LOWDELAY
    _state: object = field(init=False, repr=False)
    _out: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        lib = _lib()
        error = _ffi.new("int *")
        state = lib.opus_encoder_create(SAMPLE_RATE, 1, self.application, error)
        _check(error[0])
        self._state = _ffi.gc(state, lib.opus_encoder_destroy)
        self._out = _ffi.new("unsigned char[]", MAX_PACKET)
        self._ctl(_SET_BITRATE, self.bitrate)
        self._ctl(_SET_COMPLEXITY, self.complexity)
        self._ctl(_SET_SIGNAL, _SIGNAL_VOICE)

    def _ctl(self, request: int, value: int) -> None:
        _check(_lib().opus_encoder_ctl(self._state, request, _ffi.cast("int", value)))

    def lookahead(self) -> int:
        """Samples the decoder must drop at the start (an Ogg file's pre-skip)."""
        value = _ffi.new("int32_t *")
        _check(_lib().opus_encoder_ctl(self._state, _GET_LOOKAHEAD, value))
        return int(value[0])

    def encode(self, pcm: np.ndarray) -> bytes:
        """One frame to one Opus packet: int16 samples (a tone, the music), or float32 at ±1 full scale (a mix).

        A float mix goes in as it is: libopus works in float, so neither side converts, and a mix louder than full
        scale is limited by the listener's decoder rather than clipped here.
        """
        lib = _lib()
        if pcm.dtype.kind == "f":
            samples = np.ascontiguousarray(pcm, dtype=np.float32)
            size = lib.opus_encode_float(
                self._state, _ffi.from_buffer("float[]", samples), len(samples), self._out, MAX_PACKET
            )
        else:
            samples = np.ascontiguousarray(pcm, dtype=np.int16)
            size = lib.opus_encode(
                self._state, _ffi.from_buffer("int16_t[]", samples), len(samples), self._out, MAX_PACKET
            )
        return _ffi.buffer(self._out, _check(size))[:]


@dataclass
class Decoder:
    """Mono 48 kHz to float32 samples at ±1 full scale (what libopus decodes to, unconverted); conceals a lost frame
    from the next packet's FEC, or by PLC."""

    _state: object = field(init=False, repr=False)
    _pcm: np.ndarray = field(init=False, repr=False)
    _out: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        lib = _lib()
        error = _ffi.new("int *")
        state = lib.opus_decoder_create(SAMPLE_RATE, 1, error)
        _check(error[0])
        self._state = _ffi.gc(state, lib.opus_decoder_destroy)
        self._pcm = np.zeros(MAX_FRAME_SAMPLES, dtype=np.float32)
        self._out = _ffi.from_buffer("float[]", self._pcm)  # made once: the array never moves

    def decode(self, payload: bytes) -> np.ndarray:
        return self._run(payload, len(payload), MAX_FRAME_SAMPLES, 0)

    def conceal(self, fec: bytes | None = None, samples: int = FRAME_SAMPLES) -> np.ndarray:
        """The lost frame: rebuilt from `fec` (the packet after it) when given, else extrapolated."""
        if fec:
            return self._run(fec, len(fec), samples, 1)
        return self._run(_ffi.NULL, 0, samples, 0)

    def _run(self, data: object, size: int, frame_size: int, fec: int) -> np.ndarray:
        count = _check(_lib().opus_decode_float(self._state, data, size, self._out, frame_size, fec))
        return self._pcm[:count].copy()

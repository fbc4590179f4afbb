"""RTP headers (RFC 3550) and the audio-level extension (RFC 6464), with struct.

Only what the mixer and the forwarder read or write: a parse is one unpack and a
slice, about a sixth of aiortc's RtpPacket.parse, because it runs for every
packet of every leg.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

_HEADER = struct.Struct("!BBHII")
_EXTENSION = struct.Struct("!HH")
HEADER_SIZE = _HEADER.size
ONE_BYTE_PROFILE = 0xBEDE
SILENCE = 127  # -127 dBov


class RtpError(ValueError):
    """Not an RTP packet this engine will handle."""


class RtpPacket(NamedTuple):
    """A tuple, not a dataclass: one is made for every packet of every leg, and a tuple is made in a third of the
    time a frozen dataclass takes."""

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    level: int | None = None  # -dBov, 0 loudest, from RFC 6464; None when the packet has no level
    voice: bool = False  # the extension's V bit


def parse(data: bytes, level_id: int = 0) -> RtpPacket:
    """A packet's header and payload; `level_id` is the negotiated id of ssrc-audio-level (0: none)."""
    if len(data) < HEADER_SIZE:
        raise RtpError("shorter than an RTP header")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise RtpError("not RTP version 2")
    offset = HEADER_SIZE + 4 * (first & 0x0F)
    level: int | None = None
    voice = False
    if first & 0x10:
        if len(data) < offset + 4:
            raise RtpError("truncated header extension")
        profile, words = _EXTENSION.unpack_from(data, offset)
        start, offset = offset + 4, offset + 4 + 4 * words
        if offset > len(data):
            raise RtpError("truncated header extension")
        if profile == ONE_BYTE_PROFILE and level_id:
            level, voice = _audio_level(data, start, offset, level_id)
    end = len(data)
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or offset + padding > end:
            raise RtpError("bad padding")
        end -= padding
    if offset > end:
        raise RtpError("header longer than the packet")
    return RtpPacket(second & 0x7F, bool(second & 0x80), sequence, timestamp, ssrc, data[offset:end], level, voice)


def _audio_level(data: bytes, start: int, end: int, wanted: int) -> tuple[int | None, bool]:
    if start + 1 < end and data[start] >> 4 == wanted:  # Chromium puts the level first: no walk
        value = data[start + 1]
        return value & 0x7F, bool(value & 0x80)
    index = start
    while index < end:
        byte = data[index]
        if byte == 0:  # padding between elements
            index += 1
            continue
        element, length = byte >> 4, (byte & 0x0F) + 1
        if element == 15:
            break
        if element == wanted and index + 1 < end:
            value = data[index + 1]
            return value & 0x7F, bool(value & 0x80)
        index += 1 + length
    return None, False


def header(payload_type: int, sequence: int, timestamp: int, ssrc: int, marker: bool = False) -> bytes:
    """A bare 12-byte header: what Talkbox sends needs no extensions (the SSRC is in the SDP)."""
    return _HEADER.pack(0x80, payload_type | (0x80 if marker else 0), sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)


def write_header(
    buffer: bytearray | memoryview, payload_type: int, sequence: int, timestamp: int, ssrc: int, marker: bool
) -> None:
    """`header`, written into a buffer the packet is built in (SRTP's own): no bytes made for it."""
    _HEADER.pack_into(
        buffer, 0, 0x80, payload_type | (0x80 if marker else 0), sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc
    )


def is_rtcp(data: bytes) -> bool:
    """RFC 5761's rule for telling RTCP from RTP on one port: payload types 64-95 after the marker bit."""
    return len(data) >= 2 and 192 <= data[1] <= 223

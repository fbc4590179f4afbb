"""An Ogg/Opus file written as it goes (RFC 3533, RFC 7845), one small page at a time.

Each page is complete and checksummed when it is written, and flushed at
once: a process killed mid-recording leaves a file whose every page but the
last is whole, and a decoder plays it up to that last whole page. No
muxer library does this with control over when pages end, and an Ogg page
is forty lines.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from talkbox.media.opus import SAMPLE_RATE

VENDOR = b"Talkbox"
# Packets per page: a crash loses at most this many 20 ms frames (the page being filled).
PACKETS_PER_PAGE = 10
_BOS, _EOS = 0x02, 0x04
_MAX_SEGMENTS = 255


def _crc_table() -> tuple[int, ...]:
    """Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, initial value 0 (unlike zlib's)."""
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC = _crc_table()


def crc32(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[(crc >> 24) ^ byte]
    return crc


def page(packets: list[bytes], granule: int, serial: int, sequence: int, flags: int = 0) -> bytes:
    """One Ogg page holding whole packets (each under 255 * 255 bytes, as Opus packets are)."""
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    if len(lacing) > _MAX_SEGMENTS:
        raise ValueError(f"{len(packets)} packets need {len(lacing)} segments; a page holds {_MAX_SEGMENTS}")
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    body = header + bytes(lacing) + b"".join(packets)
    checksum = crc32(body)
    return body[:22] + struct.pack("<I", checksum) + body[26:]


def opus_head(pre_skip: int, channels: int = 1) -> bytes:
    """RFC 7845 section 5.1: version 1, the input rate as information only, no gain, mapping family 0."""
    return struct.pack("<8sBBHIhB", b"OpusHead", 1, channels, pre_skip, SAMPLE_RATE, 0, 0)


def opus_tags() -> bytes:
    return struct.pack("<8sI", b"OpusTags", len(VENDOR)) + VENDOR + struct.pack("<I", 0)


@dataclass
class OggOpusWriter:
    """Opus packets of `frame` samples each (at 48 kHz) into `out`, a page every `per_page` packets."""

    out: BinaryIO
    serial: int
    pre_skip: int
    frame: int = 960
    per_page: int = PACKETS_PER_PAGE
    _sequence: int = 0
    _granule: int = 0
    _pending: list[bytes] = field(default_factory=list)
    _segments: int = 0
    _closed: bool = False

    def __post_init__(self) -> None:
        # The two headers each on a page of their own, as RFC 7845 requires.
        self._write([opus_head(self.pre_skip)], 0, _BOS)
        self._write([opus_tags()], 0, 0)

    def add(self, packet: bytes) -> None:
        segments = len(packet) // 255 + 1
        if self._pending and self._segments + segments > _MAX_SEGMENTS:
            self._flush_page()
        self._pending.append(packet)
        self._segments += segments
        self._granule += self.frame
        if len(self._pending) >= self.per_page:
            self._flush_page()

    def close(self) -> None:
        """The last page, marked end of stream (empty if nothing was waiting: a valid Ogg page)."""
        if self._closed:
            return
        self._closed = True
        self._flush_page(_EOS)

    @property
    def samples(self) -> int:
        """Decoded samples so far, pre-skip included: what the last page's granule position says."""
        return self._granule

    def _flush_page(self, flags: int = 0) -> None:
        if not self._pending and not flags:
            return
        granule = self._granule
        packets, self._pending, self._segments = self._pending, [], 0
        self._write(packets, granule, flags)

    def _write(self, packets: list[bytes], granule: int, flags: int) -> None:
        self.out.write(page(packets, granule, self.serial, self._sequence, flags))
        self.out.flush()
        self._sequence += 1

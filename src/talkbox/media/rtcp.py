"""RTCP sender and receiver reports (RFC 3550 section 6.4), built and read with struct.

The engine sends one compound packet per leg about once a second: a sender
report for what it sends, one report block for what it receives, and the
CNAME. That is what lets the browser's getStats show round-trip time, loss and
jitter for its leg; what the browser reports back is the server's view of the
leg.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

SR, RR, SDES, BYE = 200, 201, 202, 203
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 to 1970
_BLOCK = struct.Struct("!IIIIII")


def ntp(wall: float) -> int:
    """A wall-clock time as a 64-bit NTP timestamp."""
    seconds = int(wall) + NTP_EPOCH_OFFSET
    fraction = int((wall % 1.0) * (1 << 32)) & 0xFFFFFFFF
    return ((seconds & 0xFFFFFFFF) << 32) | fraction


def middle32(timestamp: int) -> int:
    return (timestamp >> 16) & 0xFFFFFFFF


@dataclass
class ReceiveStats:
    """What RFC 3550's receiver report needs, kept per incoming stream as packets arrive."""

    clock_rate: int = 48_000
    ssrc: int = 0
    base_sequence: int = -1
    max_sequence: int = 0  # extended with the wrap count
    received: int = 0
    jitter: float = 0.0  # in timestamp units
    _last_transit: float | None = None
    _expected_prior: int = 0
    _received_prior: int = 0
    last_sr: int = 0  # middle 32 bits of the last SR's NTP time
    last_sr_at: float = 0.0

    def packet(self, ssrc: int, sequence: int, timestamp: int, arrival: float) -> None:
        if ssrc != self.ssrc or self.base_sequence < 0:
            self.__init__(self.clock_rate, ssrc, sequence, sequence)  # type: ignore[misc]
        else:
            extended = self.max_sequence + ((sequence - self.max_sequence + 0x8000) & 0xFFFF) - 0x8000
            self.max_sequence = max(self.max_sequence, extended)
        self.received += 1
        transit = arrival * self.clock_rate - timestamp
        if self._last_transit is not None:
            delta = abs(transit - self._last_transit)
            if delta < self.clock_rate:  # a timestamp jump (a restarted sender) is not jitter
                self.jitter += (delta - self.jitter) / 16
        self._last_transit = transit

    def sender_report(self, ntp_time: int, arrival: float) -> None:
        self.last_sr, self.last_sr_at = middle32(ntp_time), arrival

    @property
    def expected(self) -> int:
        return self.max_sequence - self.base_sequence + 1 if self.base_sequence >= 0 else 0

    @property
    def lost(self) -> int:
        return max(self.expected - self.received, 0)

    def block(self, now: float) -> bytes:
        """One report block; it also starts the next interval for fraction lost."""
        expected, received = self.expected, self.received
        interval_expected = expected - self._expected_prior
        interval_lost = interval_expected - (received - self._received_prior)
        self._expected_prior, self._received_prior = expected, received
        fraction = (interval_lost << 8) // interval_expected if interval_expected > 0 and interval_lost > 0 else 0
        delay = int((now - self.last_sr_at) * 65536) if self.last_sr else 0
        lost = min(self.lost, 0x7FFFFF)
        return _BLOCK.pack(
            self.ssrc,
            (min(fraction, 255) << 24) | lost,
            self.max_sequence & 0xFFFFFFFF,
            int(self.jitter) & 0xFFFFFFFF,
            self.last_sr,
            delay & 0xFFFFFFFF,
        )


@dataclass
class SendStats:
    packets: int = 0
    octets: int = 0
    last_timestamp: int = 0
    last_sent_at: float = 0.0


def report(
    ssrc: int, cname: str, sent: SendStats, received: ReceiveStats | None, wall: float, now: float, clock_rate: int
) -> bytes:
    """A compound packet: SR (with a block about the incoming stream when there is one) and SDES."""
    blocks = received.block(now) if received is not None and received.received else b""
    # The RTP timestamp of this very instant, extrapolated from the last packet sent.
    rtp_now = (sent.last_timestamp + int((now - sent.last_sent_at) * clock_rate)) & 0xFFFFFFFF
    body = struct.pack("!IQIII", ssrc, ntp(wall), rtp_now, sent.packets & 0xFFFFFFFF, sent.octets & 0xFFFFFFFF)
    count = 1 if blocks else 0
    sr = _packet(SR, count, body + blocks)
    return sr + sdes(ssrc, cname)


def sdes(ssrc: int, cname: str) -> bytes:
    name = cname.encode()[:255]
    item = struct.pack("!IBB", ssrc, 1, len(name)) + name + b"\x00"
    item += b"\x00" * (-len(item) % 4)
    return _packet(SDES, 1, item)


def bye(ssrc: int) -> bytes:
    return _packet(BYE, 1, struct.pack("!I", ssrc))


def _packet(kind: int, count: int, body: bytes) -> bytes:
    return struct.pack("!BBH", 0x80 | count, kind, len(body) // 4) + body


@dataclass(frozen=True, slots=True)
class PeerReport:
    """What the peer says about the stream Talkbox sends it."""

    fraction_lost: float
    cumulative_lost: int
    jitter: int
    round_trip: float | None  # seconds, when the block references a sender report of ours


@dataclass
class Parsed:
    sender_ntp: int | None = None  # the peer's SR NTP time, for our next report's LSR
    reports: list[PeerReport] = field(default_factory=list)
    bye: bool = False


def read(data: bytes, our_ssrc: int, wall: float) -> Parsed:
    """The parts of a (compound) RTCP packet the engine uses; anything else is skipped, never trusted."""
    parsed = Parsed()
    offset = 0
    while offset + 4 <= len(data):
        first, kind, words = struct.unpack_from("!BBH", data, offset)
        end = offset + 4 * (words + 1)
        if first >> 6 != 2 or end > len(data):
            break
        count, body = first & 0x1F, offset + 4
        if kind == SR and end - body >= 24:
            parsed.sender_ntp = struct.unpack_from("!Q", data, body + 4)[0]
            _blocks(data, body + 24, end, count, our_ssrc, wall, parsed)
        elif kind == RR and end - body >= 4:
            _blocks(data, body + 4, end, count, our_ssrc, wall, parsed)
        elif kind == BYE:
            parsed.bye = True
        offset = end
    return parsed


def _blocks(data: bytes, start: int, end: int, count: int, our_ssrc: int, wall: float, parsed: Parsed) -> None:
    for index in range(count):
        at = start + index * _BLOCK.size
        if at + _BLOCK.size > end:
            return
        ssrc, lost_word, _highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, at)
        if ssrc != our_ssrc:
            continue
        round_trip = None
        if lsr:
            arrived = middle32(ntp(wall))
            round_trip = max(((arrived - lsr - dlsr) & 0xFFFFFFFF) / 65536, 0.0)
        cumulative = lost_word & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        parsed.reports.append(PeerReport((lost_word >> 24) / 256, cumulative, jitter, round_trip))

"""RFC 4733 telephone-events: keypad digits as RTP packets, read and written.

An event is a run of packets sharing one RTP timestamp (the event's start), each with a growing duration, then
an end packet sent three times. So a receiver reports a digit once, at its first end packet, and knows the
repeats (and late stragglers) by their timestamp. A digit whose end packets were all lost is reported when the
next event begins, rather than never.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field

DIGITS = "0123456789*#ABCD"
_EVENT = struct.Struct("!BBH")
END = 0x80
VOLUME = 10  # -10 dBm0, the level a telephone's keypad sends
FRAME = 160  # 20 ms at 8 kHz: one event packet per mixer tick
TONE_PACKETS = 5  # 100 ms of tone
END_REPEATS = 3
GAP_PACKETS = 3  # 60 ms of audio between two digits


def packet(event: int, end: bool, duration: int) -> bytes:
    return _EVENT.pack(event, (END if end else 0) | VOLUME, duration & 0xFFFF)


@dataclass
class Receiver:
    """Turns a peer's event packets into digits, each reported once."""

    _reported: int | None = None  # the timestamp of the last event reported
    _pending: tuple[int, int] | None = None  # (timestamp, event) begun and not ended yet

    def take(self, payload: bytes, timestamp: int) -> list[str]:
        if len(payload) < _EVENT.size:
            return []
        event, flags, _duration = _EVENT.unpack_from(payload)
        if event >= len(DIGITS) or timestamp == self._reported:
            return []  # a flash or other non-digit event; or a repeat of a digit already reported
        digits: list[str] = []
        pending = self._pending
        if pending is not None and pending[0] != timestamp:
            digits.append(DIGITS[pending[1]])  # its end packets never came
            self._reported = pending[0]
        if flags & END:
            digits.append(DIGITS[event])
            self._reported, self._pending = timestamp, None
        else:
            self._pending = (timestamp, event)
        return digits


@dataclass
class Sender:
    """Digits waiting to be sent, played out one packet per tick in place of the audio packet of that tick."""

    _queue: deque[str] = field(default_factory=deque)
    _event: int | None = None
    _start: int = 0  # the event's RTP timestamp: the audio packet it replaced first
    _sent: int = 0  # packets of the current event so far
    _gap: int = 0  # audio packets still to let through before the next digit

    def add(self, digits: str) -> None:
        unknown = set(digits.upper()) - set(DIGITS)
        if unknown:
            raise ValueError(f"not keypad digits: {''.join(sorted(unknown))!r}")
        self._queue.extend(digits.upper())

    def next(self, timestamp: int) -> tuple[bytes, int, bool] | None:
        """This tick's event packet (payload, timestamp, marker), or None to send the audio."""
        if self._event is None:
            if self._gap > 0:
                self._gap -= 1
                return None
            if not self._queue:
                return None
            self._event, self._start, self._sent = DIGITS.index(self._queue.popleft()), timestamp, 0
        self._sent += 1
        end = self._sent > TONE_PACKETS - 1
        duration = FRAME * min(self._sent, TONE_PACKETS)
        payload = packet(self._event, end, duration)
        marker = self._sent == 1
        if self._sent >= TONE_PACKETS - 1 + END_REPEATS:
            self._event, self._gap = None, GAP_PACKETS
        return payload, self._start, marker

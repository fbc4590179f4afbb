"""One telephone leg's media: plain RTP over UDP with G.711, no ICE, DTLS or SRTP.

A SIP trunk sends its audio from the address and port its SDP named, so that is the only source taken
(symmetric RTP, "latching" onto wherever the first packet comes from, is for trunks behind NAT and is off
unless `MediaSettings.sip_latch` says so: with it, whoever sends first owns the leg). Each datagram is judged
in the same order as a browser's, each test cheaper than the next: the source (else `strangers`), the
leg's packet budget (else `over_budget`), RTP well formed (else `malformed`), a payload type the SDP allows.

G.711 stops at this endpoint: what goes to the conference is linear 16-bit samples at 8 kHz and what comes
back is the same, encoded here in the law negotiated last (a re-INVITE may change it). RFC 4733 events are
taken out of the stream and reported as digits; digits to send replace the audio packets of their ticks.
RTCP goes on the next port up, or on the RTP port when the peer muxes: a report about once a second, so
carriers that watch for it keep the call, and theirs is read for round trip and loss.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from talkbox.media import dtmf, g711, rtcp, rtp, sdp
from talkbox.media.endpoint import RTCP_INTERVAL, SILENCE_IS_LOSS, Budget, Counters, PeerQuality

Address = tuple[str, int]
PacketSink = Callable[[rtp.RtpPacket, float], None]
StateSink = Callable[[str], None]  # "connected", or "lost"
DigitSink = Callable[[str], None]
BIND_ATTEMPTS = 64


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, receive: Callable[[bytes, Address], None]) -> None:
        self.receive = receive
        self.closed = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.receive(data, (addr[0], addr[1]))  # an IPv6 source has four fields: compare host and port

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP unreachable from a phone that went away: its silence will say so


@dataclass
class RtpEndpoint:
    """A pair of UDP sockets (RTP, RTCP) for one telephone, and the G.711 stream each way."""

    on_packet: PacketSink
    on_state: StateSink
    on_digit: DigitSink = lambda _digit: None
    host: str = "127.0.0.1"
    public_address: str | None = None
    ports: tuple[int, int] | None = None  # an inclusive range to take an even port from; None: any free one
    latch: bool = False
    origin: tuple[int, int] | None = None  # (session id, version) to carry on from: a leg put back on its port
    silence_is_loss: float = SILENCE_IS_LOSS
    rtcp_interval: float = RTCP_INTERVAL
    counters: Counters = field(default_factory=Counters)
    quality: PeerQuality = field(default_factory=PeerQuality)
    budget: Budget = field(default_factory=Budget)
    peer: sdp.Remote | None = None
    port: int = 0
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    cname: str = field(default_factory=lambda: f"talkbox-{random.getrandbits(32):08x}")
    sent: rtcp.SendStats = field(default_factory=rtcp.SendStats)
    received: rtcp.ReceiveStats = field(default_factory=lambda: rtcp.ReceiveStats(clock_rate=g711.RATE))
    keypad: dtmf.Sender = field(default_factory=dtmf.Sender)
    digits: dtmf.Receiver = field(default_factory=dtmf.Receiver)
    last_packet_at: float = 0.0
    connected: bool = False
    closed: bool = False
    _origin: sdp.Origin | None = None
    _sequence: int = field(default_factory=lambda: random.getrandbits(16))
    _source: Address | None = None  # the only address RTP is taken from, and sent to
    _latched: bool = False
    _rtcp_peer: Address | None = None
    _rtp: asyncio.DatagramTransport | None = None
    _rtcp: asyncio.DatagramTransport | None = None
    _timer: asyncio.TimerHandle | None = None
    _sockets: list[_Socket] = field(default_factory=list)

    async def open(self) -> None:
        """Bind an even port for RTP and the odd one above it for RTCP (RFC 3550 11)."""
        loop = asyncio.get_running_loop()
        for wanted in self._candidates():
            try:
                rtp_socket, rtp_protocol = await loop.create_datagram_endpoint(
                    lambda: _Socket(self._datagram), local_addr=(self.host, wanted)
                )
            except OSError:
                continue
            port = int(rtp_socket.get_extra_info("sockname")[1])
            if port % 2:
                rtp_socket.close()
                continue
            try:
                rtcp_socket, rtcp_protocol = await loop.create_datagram_endpoint(
                    lambda: _Socket(self._rtcp_datagram), local_addr=(self.host, port + 1)
                )
            except OSError:
                rtp_socket.close()
                continue
            self._rtp, self._rtcp, self.port = rtp_socket, rtcp_socket, port
            self._sockets = [rtp_protocol, rtcp_protocol]
            self._origin = sdp.Origin(self.public_address or _advertised(self.host), *(self.origin or ()))
            return
        raise OSError("no free pair of RTP ports")

    def _candidates(self) -> Iterator[int]:
        if self.ports is None:
            yield from (0,) * BIND_ATTEMPTS
            return
        low, high = self.ports
        evens = list(range(low + low % 2, high, 2))  # high - 1 at most: its RTCP port must be in the range too
        start = random.randrange(len(evens)) if evens else 0
        yield from evens[start:] + evens[:start]

    # --- offer and answer -------------------------------------------------------------

    def offer(self) -> str:
        assert self._origin is not None, "open() first"
        return sdp.offer(self._origin, self.port)

    def answer(self, offer: str) -> str:
        """Our answer to the peer's offer: a call in, or a re-INVITE (hold, unhold, a new address) on this port."""
        assert self._origin is not None, "open() first"
        description = sdp.parse(offer)
        index, peer = sdp.remote(description)
        self._use(peer)
        return sdp.answer(self._origin, self.port, description, index, peer)

    def accept(self, answer: str) -> None:
        """The peer's answer to our offer (from a 183, then a 200, or a later one): the latest wins."""
        _index, peer = sdp.remote(sdp.parse(answer))
        self._use(peer)

    def _use(self, peer: sdp.Remote) -> None:
        before = self.peer
        self.peer = peer
        if before is None or (before.host, before.port) != (peer.host, peer.port):
            self._source, self._latched = (peer.host, peer.port), False
        if before is None or before.host != peer.host or not self.latch:
            self._rtcp_peer = (peer.host, peer.port if peer.rtcp_mux else peer.rtcp_port)
        if before is not None and not before.two_way and peer.two_way and self.last_packet_at:
            self.last_packet_at = _now()  # back from a hold: the silence clock starts again
        if self._timer is None and not self.closed:
            self._timer = asyncio.get_running_loop().call_later(self.rtcp_interval, self._report)

    # --- sending ----------------------------------------------------------------------

    def send(self, payload: bytes, _sequence: int, timestamp: int, marker: bool = False) -> None:
        """One tick of linear 8 kHz samples from the conference; or, while digits are queued, their event packet.

        The sequence numbers are this endpoint's own, as events and audio share one stream.
        """
        peer = self.peer
        if peer is None or peer.held or self._rtp is None or self._source is None or self.closed:
            return
        event = self.keypad.next(timestamp) if peer.telephone_event is not None else None
        if event is not None and peer.telephone_event is not None:
            body, timestamp, marker = event
            payload_type = peer.telephone_event
        else:
            body = g711.encode(peer.law, np.frombuffer(payload, dtype=np.int16))
            payload_type = g711.PAYLOAD_TYPES[peer.law]
            marker = marker or self.sent.packets == 0
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._rtp.sendto(rtp.header(payload_type, self._sequence, timestamp, self.ssrc, marker) + body, self._source)
        self.sent.packets += 1
        self.sent.octets += len(body)
        self.sent.last_timestamp, self.sent.last_sent_at = timestamp & 0xFFFFFFFF, _now()

    def send_digits(self, digits: str) -> None:
        """Queue keypad digits as RFC 4733 events; ValueError if the peer takes none, or for a non-digit."""
        if self.peer is None or self.peer.telephone_event is None:
            raise ValueError("the telephone did not agree to telephone-events")
        self.keypad.add(digits)

    def _report(self) -> None:
        self._timer = None
        peer = self.peer
        if self.closed or peer is None:
            return
        now = _now()
        # Also while on hold (RFC 3264 8.4): RTCP is how a carrier knows the call is still there.
        received = self.received if self.received.received else None
        self._send_rtcp(rtcp.report(self.ssrc, self.cname, self.sent, received, time.time(), now, g711.RATE))
        if peer.two_way and self.connected and now - self.last_packet_at > self.silence_is_loss:
            self.connected = False
            self.on_state("lost")
        interval = self.rtcp_interval * random.uniform(0.5, 1.5)  # RFC 3550 6.2: never in step with others
        self._timer = asyncio.get_running_loop().call_later(interval, self._report)

    def _send_rtcp(self, packet: bytes) -> None:
        peer, to = self.peer, self._rtcp_peer
        if peer is None or to is None or sdp.unspecified(to[0]):
            return
        transport = self._rtp if peer.rtcp_mux else self._rtcp
        if transport is not None:
            transport.sendto(packet, to)

    # --- receiving --------------------------------------------------------------------

    def _from_peer(self, source: Address) -> bool:
        if self._source is None:
            return False
        if source == self._source:
            self._latched = True
            return True
        if self.latch and not self._latched:
            self._source, self._latched = source, True
            return True
        return False

    def _datagram(self, data: bytes, source: Address) -> None:
        peer = self.peer
        if peer is None or not self._from_peer(source):
            self.counters.strangers += 1
            return
        now = _now()
        if not self.budget.take(now):
            self.counters.over_budget += 1
            return
        if rtp.is_rtcp(data):
            self._read_rtcp(data)  # muxed
            return
        try:
            packet = rtp.parse(data)
        except rtp.RtpError:
            self.counters.malformed += 1
            return
        if packet.payload_type == peer.telephone_event:
            self._alive(now)
            for digit in self.digits.take(packet.payload, packet.timestamp):
                self.on_digit(digit)
            return
        law = g711.LAWS.get(packet.payload_type)
        if law is None:
            return  # comfort noise, or a codec it was not offered
        self.counters.received += 1
        self._alive(now)
        self.received.packet(packet.ssrc, packet.sequence, packet.timestamp, now)
        linear = g711.decode(law, packet.payload).tobytes()
        self.on_packet(
            rtp.RtpPacket(packet.payload_type, packet.marker, packet.sequence, packet.timestamp, packet.ssrc, linear),
            now,
        )

    def _alive(self, now: float) -> None:
        self.last_packet_at = now
        if not self.connected:
            self.connected = True
            self.on_state("connected")

    def _rtcp_datagram(self, data: bytes, source: Address) -> None:
        # A carrier's RTCP often comes from another port than its SDP says: its host is enough, as nothing
        # here steers by what RTCP says.
        if self._source is None or source[0] != self._source[0]:
            self.counters.strangers += 1
            return
        if not self.budget.take(_now()):
            self.counters.over_budget += 1
            return
        if self.latch:
            self._rtcp_peer = source
        self._read_rtcp(data)

    def _read_rtcp(self, data: bytes) -> None:
        parsed = rtcp.read(data, self.ssrc, time.time())
        if parsed.sender_ntp is not None:
            self.received.sender_report(parsed.sender_ntp, _now())
        for report in parsed.reports:
            self.quality = PeerQuality(report.round_trip, report.fraction_lost, report.jitter * 1000 / g711.RATE)

    async def close(self) -> None:
        if self.closed:
            return
        if self.sent.packets:
            self._send_rtcp(
                rtcp.report(self.ssrc, self.cname, self.sent, None, time.time(), _now(), g711.RATE)
                + rtcp.bye(self.ssrc)
            )
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        for transport in (self._rtp, self._rtcp):
            if transport is not None:
                transport.close()
        for receiver in self._sockets:
            await receiver.closed  # a socket closes on the loop's next turn: then its port is free again


def _advertised(host: str) -> str:
    """The address to put in our SDP: the bound one, or for a wildcard the one the default route leaves from
    (c=0.0.0.0 would put the call on hold). Connecting a UDP socket sends nothing."""
    if not sdp.unspecified(host):
        return host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("2001:db8::1" if family == socket.AF_INET6 else "192.0.2.1", 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "::1" if family == socket.AF_INET6 else "127.0.0.1"


def _now() -> float:
    return time.monotonic()

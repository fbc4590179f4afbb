"""One browser leg's media: aiortc's peer connection below SRTP, Talkbox's packets above it.

Every datagram is judged before any work is spent on it: a stranger (not the
ICE-selected peer), a leg over its packet budget, SRTP that fails
authentication and malformed RTP are dropped and counted, so one leg's flood
costs that leg and nobody else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pylibsrtp
from aioice.ice import StunProtocol
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from talkbox.media import rtcp, rtp
from talkbox.media.aiortc_bridge import Gate, Wire, guard, take_over
from talkbox.media.ice import advertise

log = logging.getLogger(__name__)

CLOCK_RATE = 48_000
RTCP_INTERVAL = 1.0
# A browser sends 50 RTP and a few RTCP packets a second; a network hiccup delivers a backlog at once.
PACKET_BUDGET_PER_SECOND = 150.0
PACKET_BURST = 100.0
# Silence from a connected peer for this long means its page has gone (ICE consent takes 30 s to say so).
SILENCE_IS_LOSS = 5.0

_LEVEL_EXTENSION = re.compile(r"a=extmap:(\d+)(?:/\w+)? urn:ietf:params:rtp-hdrext:ssrc-audio-level")
_OPUS = re.compile(r"a=rtpmap:(\d+) opus/48000", re.IGNORECASE)


@dataclass
class Counters:
    received: int = 0
    strangers: int = 0
    over_budget: int = 0
    unauthenticated: int = 0
    malformed: int = 0
    unsendable: int = 0


@dataclass
class Budget:
    """A token bucket of packets: work per leg is bounded whatever arrives."""

    rate: float = PACKET_BUDGET_PER_SECOND
    burst: float = PACKET_BURST
    tokens: float = PACKET_BURST
    at: float = 0.0

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class PeerQuality:
    """The browser's own view of what Talkbox sends it, from its receiver reports."""

    round_trip: float | None = None
    fraction_lost: float = 0.0
    jitter_ms: float = 0.0


PacketSink = Callable[[rtp.RtpPacket, float], None]
StateSink = Callable[[str], None]  # "connected", or "lost"


@dataclass
class WebRtcEndpoint:
    """A peer connection to one page, and the RTP stream each way."""

    on_packet: PacketSink
    on_state: StateSink
    ice_servers: tuple[str, ...] = ()
    media_host: str = "127.0.0.1"
    public_address: str | None = None
    counters: Counters = field(default_factory=Counters)
    quality: PeerQuality = field(default_factory=PeerQuality)
    pc: RTCPeerConnection = field(init=False)
    gate: Gate | None = None
    wire: Wire | None = None
    payload_type: int = 111
    level_id: int = 0
    cname: str = field(default_factory=lambda: f"talkbox-{random.getrandbits(32):08x}")
    sent: rtcp.SendStats = field(default_factory=rtcp.SendStats)
    received: rtcp.ReceiveStats = field(default_factory=rtcp.ReceiveStats)
    budget: Budget = field(default_factory=Budget)
    last_packet_at: float = 0.0
    silent: bool = False  # reported lost for silence; a packet again reports it connected
    closed: bool = False
    clock: Callable[[], float] = time.monotonic  # a bench's own clock runs slower than real time
    _timer: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        # An explicit list, even empty: left unset, aiortc asks a public STUN server.
        servers = [RTCIceServer(urls=url) for url in self.ice_servers]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.pc.on("connectionstatechange", self._state_changed)

    async def offer(self) -> str:
        self.pc.addTransceiver("audio", direction="sendrecv")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.gate = guard(self.pc, self._refused)
        sdp = self.pc.localDescription.sdp
        opus = _OPUS.search(sdp)
        if opus:
            self.payload_type = int(opus.group(1))
        return advertise(sdp, self.media_host, self.public_address)

    async def accept(self, sdp: str) -> None:
        """The page's answer; raises ValueError (and friends) for one aiortc cannot use."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        level = _LEVEL_EXTENSION.search(sdp)
        self.level_id = int(level.group(1)) if level else 0

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self.wire is not None:
            self._send_rtcp(
                rtcp.report(self.wire.ssrc, self.cname, self.sent, None, time.time(), self.clock(), CLOCK_RATE)
                + rtcp.bye(self.wire.ssrc)
            )
        await self.pc.close()

    # --- sending ------------------------------------------------------------------

    def send(self, payload: bytes, sequence: int, timestamp: int, marker: bool = False) -> None:
        wire = self.wire
        if wire is None:
            return
        try:
            protected = wire.tx.protect_rtp(self.payload_type, sequence, timestamp, wire.ssrc, marker, payload)
        except pylibsrtp.Error:
            self.counters.unsendable += 1
            return
        if wire.send(protected):
            self.sent.packets += 1
            self.sent.octets += len(payload)
            self.sent.last_timestamp, self.sent.last_sent_at = timestamp & 0xFFFFFFFF, self.clock()

    def _send_rtcp(self, packet: bytes) -> None:
        if self.wire is not None:
            with contextlib.suppress(pylibsrtp.Error):
                self.wire.send(self.wire.tx.protect_rtcp(packet))

    def _report(self) -> None:
        if self.closed or self.wire is None:
            return
        now = self.clock()
        received = self.received if self.received.received else None
        self._send_rtcp(rtcp.report(self.wire.ssrc, self.cname, self.sent, received, time.time(), now, CLOCK_RATE))
        if self.last_packet_at and now - self.last_packet_at > SILENCE_IS_LOSS and not self.silent:
            self.silent = True
            self.on_state("lost")
        self._timer = asyncio.get_running_loop().call_later(RTCP_INTERVAL * random.uniform(0.5, 1.5), self._report)

    # --- receiving ----------------------------------------------------------------

    def _refused(self) -> None:
        self.counters.strangers += 1

    def _datagram(self, protocol: StunProtocol, data: bytes, source: tuple[str, int]) -> None:
        wire = self.wire
        selected = wire.selected() if wire is not None else None
        if selected is None or protocol is not selected[0] or source != selected[1]:
            self.counters.strangers += 1
            return
        now = self.clock()
        if not self.budget.take(now):
            self.counters.over_budget += 1
            return
        assert wire is not None
        try:
            if rtp.is_rtcp(data):
                self._rtcp(wire.rx.unprotect_rtcp(data))
                return
            clear = wire.rx.unprotect(data)
        except pylibsrtp.Error:
            self.counters.unauthenticated += 1
            return
        try:
            packet = rtp.parse(clear, self.level_id)
        except rtp.RtpError:
            self.counters.malformed += 1
            return
        if packet.payload_type != self.payload_type:
            return  # comfort noise or a codec Talkbox did not offer
        self.counters.received += 1
        self.last_packet_at = now
        if self.silent:
            self.silent = False
            self.on_state("connected")
        self.received.packet(packet.ssrc, packet.sequence, packet.timestamp, now)
        self.on_packet(packet, now)

    def _rtcp(self, data: bytes) -> None:
        assert self.wire is not None
        parsed = rtcp.read(data, self.wire.ssrc, time.time())
        if parsed.sender_ntp is not None:
            self.received.sender_report(parsed.sender_ntp, self.clock())
        for report in parsed.reports:
            self.quality = PeerQuality(report.round_trip, report.fraction_lost, report.jitter * 1000 / CLOCK_RATE)

    # --- the connection -----------------------------------------------------------

    async def _state_changed(self) -> None:
        if self.closed:
            return
        state = self.pc.connectionState
        if state == "connected" and self.wire is None:
            try:
                assert self.gate is not None
                self.wire = await take_over(self.pc, self.gate, self._datagram)
            except Exception:
                log.exception("could not take over the media of a peer connection")
                self.on_state("lost")
                return
            self._timer = asyncio.get_running_loop().call_later(RTCP_INTERVAL, self._report)
            self.on_state("connected")
        elif state in ("failed", "closed"):
            self.on_state("lost")

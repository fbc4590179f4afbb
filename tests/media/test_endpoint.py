"""A WebRTC endpoint of the engine against a real aiortc peer on loopback.

This is also the test of talkbox.media.aiortc_bridge: if an aiortc or aioice
upgrade moves a private name the bridge uses, the endpoint never takes over
and these fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import numpy as np
from aioice.candidate import Candidate
from aioice.ice import CandidatePair
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from talkbox.media import rtp
from talkbox.media.endpoint import WebRtcEndpoint
from talkbox.media.engine import MediaEngine, MediaSettings
from talkbox.media.opus import FRAME_SAMPLES, Encoder
from tests.support.audio import level_at, to_mono
from tests.support.peer import ToneTrack


async def connected_pair() -> tuple[WebRtcEndpoint, RTCPeerConnection, list[rtp.RtpPacket], list[str]]:
    MediaEngine(on_state=lambda *_: None, settings=MediaSettings())  # offers loopback candidates
    packets: list[rtp.RtpPacket] = []
    states: list[str] = []
    endpoint = WebRtcEndpoint(on_packet=lambda packet, _now: packets.append(packet), on_state=states.append)
    page = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    await page.setRemoteDescription(RTCSessionDescription(await endpoint.offer(), "offer"))
    page.addTrack(ToneTrack(440.0, 0.3))
    await page.setLocalDescription(await page.createAnswer())
    await endpoint.accept(page.localDescription.sdp)
    async with asyncio.timeout(10):
        while "connected" not in states:
            await asyncio.sleep(0.05)
    return endpoint, page, packets, states


async def test_the_engine_takes_the_packets_both_ways_and_reports_rtcp() -> None:
    endpoint, page, packets, _states = await connected_pair()
    try:
        heard: list[np.ndarray] = []
        track = next(t.receiver.track for t in page.getTransceivers())

        async def listen() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    heard.append(to_mono(await track.recv()))

        listener = asyncio.create_task(listen())
        encoder = Encoder()
        t = np.arange(FRAME_SAMPLES) / 48_000
        for index in range(150):  # 3 s of an 880 Hz tone from the engine
            pcm = (0.3 * 32767 * np.sin(2 * np.pi * 880 * (t + index * 0.02))).astype(np.int16)
            endpoint.send(encoder.encode(pcm), 1000 + index, 5000 + index * FRAME_SAMPLES)
            await asyncio.sleep(0.02)
        listener.cancel()

        assert len(packets) > 100, "the page's RTP reached the engine's hook"
        assert all(p.payload_type == endpoint.payload_type for p in packets)
        assert any(p.level is not None and p.level < 40 for p in packets), "the RFC 6464 level is read"
        assert level_at(np.concatenate(heard[-50:]), 880) > -25, "the page decodes what the engine sent"
        stats = await page.getStats()
        remote = [s for s in stats.values() if s.type == "remote-inbound-rtp"]
        assert remote and remote[0].roundTripTime is not None, "the engine's receiver report gives the page its RTT"
        assert endpoint.counters.strangers == 0 and endpoint.counters.unauthenticated == 0
    finally:
        await endpoint.close()
        await page.close()


async def test_strangers_and_forged_packets_are_dropped_before_any_work() -> None:
    endpoint, page, packets, _states = await connected_pair()
    try:
        assert endpoint.wire is not None
        selected = endpoint.wire.selected()
        assert selected is not None
        port = selected[0].transport.get_extra_info("sockname")[1]
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        forged = rtp.header(111, 1, 2, 3) + b"\x00" * 100
        for _ in range(20):
            for _ in range(100):
                stranger.sendto(forged, ("127.0.0.1", port))
                stranger.sendto(b"\x81\xc9" + b"\x00" * 30, ("127.0.0.1", port))  # an RTCP flood
            await asyncio.sleep(0.01)
        stranger.close()
        await asyncio.sleep(0.5)
        assert endpoint.counters.strangers >= 2000  # the rest the kernel dropped
        assert endpoint.counters.unauthenticated == 0, "a stranger's packet never reaches SRTP"
        before = len(packets)
        await asyncio.sleep(0.5)
        assert len(packets) - before > 15, "the page's own audio still flows"
    finally:
        await endpoint.close()
        await page.close()


async def test_a_pair_ice_selects_later_carries_the_audio_from_its_next_packet() -> None:
    """A page whose network changes mid-call gets a new nominated pair: what the engine sends goes there at once,
    and the old address is a stranger from then on (the pair's address is read once per pair, not per packet)."""
    endpoint, page, packets, _states = await connected_pair()
    moved = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert endpoint.wire is not None
        selected = endpoint.wire.selected()
        assert selected is not None
        moved.bind(("127.0.0.1", 0))
        moved.settimeout(2)
        candidate = Candidate("moved", 1, "udp", 1, "127.0.0.1", moved.getsockname()[1], "host")
        endpoint.wire.connection._nominated[1] = CandidatePair(selected[0], candidate)
        endpoint.send(b"\x00" * 40, 1, 960)
        assert len(await asyncio.to_thread(moved.recv, 2048)) > 40, "sent to the newly selected address"
        strangers = endpoint.counters.strangers
        await asyncio.sleep(0.3)  # the page goes on sending from its old address
        assert endpoint.counters.strangers - strangers > 5
    finally:
        moved.close()
        await endpoint.close()
        await page.close()

"""Lightweight aiortc legs for the media benches, run in client processes.

Every leg is a page (tests/support/peer.py's Peer, speaking the websocket protocol) that
sends a tone as pre-encoded Opus: 50 packets (one second of a tone whose frequency is a
multiple of 50 Hz, so the loop is seamless and each 20 ms frame holds whole cycles),
encoded once and replayed on a monotonic clock. Sending costs no encoding.

Most legs do not decode what they receive: their receiver's RTP handler is replaced
by one that only counts (aiortc's own StreamStatistics: packets lost, RFC 3550 jitter)
and times arrivals. A few "checker" legs keep aiortc's full receive path, decode, and
look for every other leg's tone in each 20 ms frame they hear.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import os
import time
from typing import Any

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.opus import OpusEncoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpreceiver import StreamStatistics
from av import AudioFrame, Packet
from tests.support.audio import to_mono
from tests.support.peer import Peer

from talkbox.media.ice import restrict_host_candidates

RATE = 48_000
FRAME = 960
TIME_BASE = fractions.Fraction(1, RATE)
_ENCODED: dict[tuple[int, float], list[bytes]] = {}


def frequency_for(position: int) -> int:
    """Distinct tones within a conference, each a whole number of cycles per 20 ms frame."""
    return 400 + 150 * position


def encoded_tone(frequency: int, amplitude: float) -> list[bytes]:
    key = (frequency, amplitude)
    if key not in _ENCODED:
        encoder = OpusEncoder()
        t = np.arange(RATE) / RATE
        samples = (amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)
        packets: list[bytes] = []
        for i in range(3 * 50):  # three loops, keep the last: the encoder has settled
            chunk = samples[(i % 50) * FRAME : (i % 50 + 1) * FRAME]
            frame = AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = RATE
            frame.time_base = TIME_BASE
            frame.pts = i * FRAME
            payloads, _ = encoder.encode(frame)
            packets += payloads
        _ENCODED[key] = packets[-50:]
    return _ENCODED[key]


class PacketTrack(MediaStreamTrack):
    """Replays pre-encoded Opus packets, one every 20 ms. `burst` marks can swap in a tone burst."""

    kind = "audio"

    def __init__(self, packets: list[bytes], silence: list[bytes] | None = None) -> None:
        super().__init__()
        self.packets = packets
        self.silence = silence
        self.index = 0
        self._start: float | None = None
        self.burst_frames = 0  # while > 0, send `packets` (else `silence`, when given)
        self.sent_at: list[tuple[int, float]] = []  # (frame index, time) of burst starts

    async def recv(self) -> Packet:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self.index * FRAME / RATE - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if self.silence is None:
            payload = self.packets[self.index % 50]
        elif self.burst_frames > 0:
            payload = self.packets[self.index % 50]
            self.burst_frames -= 1
        else:
            payload = self.silence[self.index % 50]
        packet = Packet(payload)
        packet.pts = self.index * FRAME
        packet.time_base = TIME_BASE
        self.index += 1
        return packet


class Counter:
    """What a non-decoding leg keeps about what it receives."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.stats: StreamStatistics | None = None
        self.last_arrival: float | None = None
        self.gaps_over_40ms = 0
        self.packets = 0

    async def handle(self, packet: Any, arrival_time_ms: int = 0) -> None:
        now = time.monotonic()
        if self.stats is None:
            self.stats = StreamStatistics(RATE)
        self.stats.add(packet)
        self.packets += 1
        if self.last_arrival is not None and now - self.last_arrival > 0.040:
            self.gaps_over_40ms += 1
        self.last_arrival = now

    def report(self) -> dict[str, float]:
        stats = self.stats
        return {
            "packets": self.packets,
            "lost": stats.packets_lost if stats and stats.max_seq is not None else 0,
            "expected": stats.packets_expected if stats and stats.max_seq is not None else 0,
            "jitter_ms": stats.jitter / RATE * 1e3 if stats else 0.0,
            "gaps_over_40ms": self.gaps_over_40ms,
        }


class BenchPeer(Peer):
    def __init__(self, base_url: str, name: str, frequency: int, amplitude: float, checker: bool) -> None:
        super().__init__(base_url, name, frequency, auto_accept=True, amplitude=amplitude)
        self.checker = checker
        self.counter = Counter()
        self.recording = False
        self.frames: list[np.ndarray] = []
        self.track: PacketTrack | None = None

    async def _answer(self, offer: dict[str, Any]) -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs[offer["leg_id"]] = pc
        if self.checker:

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                self._tasks.append(asyncio.create_task(self._record(track)))

        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        self.track = PacketTrack(encoded_tone(int(self.frequency), self.amplitude))
        pc.addTrack(self.track)
        if not self.checker:
            for transceiver in pc.getTransceivers():
                transceiver.receiver._handle_rtp_packet = self.counter.handle  # type: ignore[method-assign]
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send({"type": "answer", "leg_id": offer["leg_id"], "sdp": pc.localDescription.sdp})

    async def _record(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = to_mono(await track.recv())
                if self.recording:
                    self.frames.append(frame)

    async def inbound(self) -> dict[str, float]:
        for pc in self.pcs.values():
            for transceiver in pc.getTransceivers():
                report = await transceiver.receiver.getStats()
                for stat in report.values():
                    if stat.type == "inbound-rtp":
                        return {"lost": stat.packetsLost, "received": stat.packetsReceived, "jitter_ms": stat.jitter
                                / RATE * 1e3}
        return {"lost": 0, "received": 0, "jitter_ms": 0.0}


def tones_present(frames: list[np.ndarray], expected: list[int], amplitude: float) -> tuple[int, int]:
    """Of (frame, expected tone) pairs, how many hold the tone at a quarter of its sent amplitude or more.

    Each mono-to-stereo pass in aiortc's Opus encoder costs 3 dB, so a tone arrives at half the
    amplitude it was sent with (two encodes: client, then mixer); a frame without it reads ~0.
    """
    present = total = 0
    bins = [f // 50 for f in expected]
    for frame in frames:
        if len(frame) != FRAME:
            continue
        spectrum = np.abs(np.fft.rfft(frame.astype(np.float64))) * 2 / FRAME / 32767
        for b in bins:
            total += 1
            present += spectrum[b] >= 0.25 * amplitude
    return present, total


async def conference(url: str, tag: str, size: int, amplitude: float, checker: bool) -> list[BenchPeer]:
    """A conference of `size` legs: the chair calls one, then adds the rest one by one."""
    peers = [
        BenchPeer(url, f"{tag}p{i}", frequency_for(i), amplitude, checker and i == 0) for i in range(size)
    ]
    for peer in peers:
        await peer.__aenter__()
    chair = peers[0]

    def live(count: int) -> bool:
        conferences = [c for c in chair.conferences.values() if c["status"] == "active"]
        return bool(conferences) and sum(leg["status"] == "in-progress" for leg in conferences[0]["legs"]) >= count

    await chair.call(peers[1].name)
    await chair.wait_for(lambda: live(2), timeout=60)
    for count, peer in enumerate(peers[2:], start=3):
        await chair.add(peer.name)
        await chair.wait_for(lambda count=count: live(count), timeout=60)
    return peers


def client_main(
    pipe: Any,
    url: str,
    core: str,
    groups: list[tuple[str, int, bool]],
    amplitude: float,
    target: str = "talkbox",
    media_address: str = "127.0.0.1",
) -> None:
    """One client process: sets up its conferences, then measures between `start` and `stop`."""
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {int(core)})
    restrict_host_candidates(media_address)
    asyncio.run(_client(pipe, url, groups, amplitude, target))


async def _client(pipe: Any, url: str, groups: list[tuple[str, int, bool]], amplitude: float, target: str) -> None:
    loop = asyncio.get_running_loop()
    peers: list[Any] = []
    gate = asyncio.Semaphore(4)
    session = None
    if target == "janus":
        from bench import janus

        session = janus.Session(url)
        await session.open()

    async def one(tag: str, size: int, checker: bool) -> list[Any]:
        async with gate:
            if session is not None:
                from bench import janus

                return await janus.conference(session, tag, size, amplitude, checker)
            return await conference(url, tag, size, amplitude, checker)

    try:
        for group in await asyncio.gather(*(one(*g) for g in groups)):
            peers += group
        pipe.send(("ready", len(peers)))
        command = await loop.run_in_executor(None, pipe.recv)
        assert command == "start"
        for peer in peers:
            peer.counter.reset()
            peer.recording = True
        checkers_before = [await p.inbound() for p in peers if p.checker]
        cpu_before, wall_before = sum(os.times()[:2]), time.monotonic()
        command = await loop.run_in_executor(None, pipe.recv)
        assert command == "stop"
        cpu = sum(os.times()[:2]) - cpu_before
        wall = time.monotonic() - wall_before
        for peer in peers:
            peer.recording = False
        legs = [p.counter.report() for p in peers if not p.checker]
        checks = []
        for peer, before in zip([p for p in peers if p.checker], checkers_before, strict=True):
            after = await peer.inbound()
            size = next(g[1] for g in groups if peer.name.startswith(g[0] + "p"))
            expected = [frequency_for(i) for i in range(1, size)]
            present, total = tones_present(peer.frames[5:], expected, amplitude)
            checks.append(
                {
                    "present": present,
                    "total": total,
                    "frames": len(peer.frames),
                    "lost": after["lost"] - before["lost"],
                    "received": after["received"] - before["received"],
                    "jitter_ms": after["jitter_ms"],
                }
            )
        pipe.send(("result", {"legs": legs, "checks": checks, "cpu": cpu, "wall": wall}))
        await loop.run_in_executor(None, pipe.recv)  # "quit"
    finally:
        for peer in peers:
            with contextlib.suppress(Exception):
                await peer.__aexit__()
        if session is not None:
            await session.close()

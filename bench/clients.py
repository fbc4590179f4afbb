"""Light legs for the media benches, run in client processes: 100 legs per process on one core.

Every leg is a page (tests/support/peer.py's Peer, speaking the websocket protocol) whose
RTCPeerConnection does ICE, DTLS and the SRTP keys and nothing more: once it is connected,
`talkbox.media.aiortc_bridge.take_over` stops aiortc's RTP sender and receiver (a decoder
thread, an encoder hand-off and a coroutine per leg: what capped the old client at ~40 legs
a core) and hands the bench the leg's `Wire`, the same fast path the server's engine uses.

Sending: a tone as pre-encoded Opus, 50 packets (one second of a tone whose frequency is a
multiple of 50 Hz, so the loop is seamless and each 20 ms frame holds whole cycles), encoded
once and replayed. One timer per process (`Pacer`) sends every leg's packets, each leg at its
own random phase within the 20 ms, as browsers' packets arrive; a leg that fell behind sends
what it owes, so the rate stays 50/s. Every packet carries the RFC 6464 audio level (what
Chromium sends, and what the engine's speaker-only decode reads) when it was negotiated.

Receiving: every leg counts what arrives (packets, sequence gaps, RFC 3550 jitter, arrival
gaps over 40 ms, in `Stream`). A few "checker" legs also decode, with the engine's libopus
binding, and look for every other leg's tone in each 20 ms frame they hear.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import os
import random
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvloop
from aioice.ice import StunProtocol
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.opus import OpusEncoder
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame, Packet
from tests.support.peer import Peer

from bench.common import pin_self
from talkbox.media import rtp
from talkbox.media.aiortc_bridge import Wire, guard, take_over
from talkbox.media.ice import restrict_host_candidates
from talkbox.media.opus import Decoder

RATE = 48_000
FRAME = 960
PERIOD = FRAME / RATE
PACER_RESOLUTION = 0.002
TIME_BASE = fractions.Fraction(1, RATE)
_ENCODED: dict[tuple[int, float], list[bytes]] = {}
_OPUS = re.compile(r"a=rtpmap:(\d+) opus/48000", re.IGNORECASE)
_LEVEL = re.compile(r"a=extmap:(\d+)(?:/\w+)? urn:ietf:params:rtp-hdrext:ssrc-audio-level")
_RECEIVED = struct.Struct("!BBHI")  # what a counting leg reads of a header: the rest it does not need
_LEVEL_HEADER = struct.Struct("!BBHIIHHBBH")  # RTP header, one-byte extension header, one element, padding


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


def tone_level(amplitude: float) -> int:
    """RFC 6464's -dBov of a sine at `amplitude` of full scale (127: silence)."""
    if amplitude <= 0:
        return 127
    return max(0, min(127, round(-20 * math.log10(amplitude / math.sqrt(2)))))


class PacketTrack(MediaStreamTrack):
    """Replays pre-encoded Opus packets through aiortc, one every 20 ms (the latency bench's sender).

    `burst_frames` > 0 swaps `packets` in for `silence` for that many frames."""

    kind = "audio"

    def __init__(self, packets: list[bytes], silence: list[bytes] | None = None) -> None:
        super().__init__()
        self.packets = packets
        self.silence = silence
        self.index = 0
        self._start: float | None = None
        self.burst_frames = 0

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


class SilentTrack(MediaStreamTrack):
    """A track that never yields: it makes the answer sendrecv; aiortc's sender is stopped before it asks."""

    kind = "audio"

    async def recv(self) -> Packet:
        await asyncio.Future()
        raise AssertionError("unreachable")


@dataclass
class Stream:
    """What a leg keeps about what it receives: RFC 3550's counts and jitter, from the RTP headers alone."""

    packets: int = 0
    base: int | None = None  # extended sequence number of the first packet
    highest: int = 0
    jitter: float = 0.0  # in RTP timestamp units
    last_transit: float | None = None
    last_arrival: float | None = None
    gaps_over_40ms: int = 0
    rate: int = RATE  # the RTP clock: 48 kHz for Opus, 8 kHz for G.711

    def packet(self, sequence: int, timestamp: int, now: float) -> None:
        if self.base is None:
            self.base = self.highest = sequence
        else:
            # Extend the 16-bit number to the one nearest the highest seen (wraps and reordering).
            extended = self.highest + ((sequence - self.highest + 0x8000) & 0xFFFF) - 0x8000
            self.highest = max(self.highest, extended)
        self.packets += 1
        transit = now * self.rate - timestamp
        if self.last_transit is not None:
            self.jitter += (abs(transit - self.last_transit) - self.jitter) / 16
        self.last_transit = transit
        if self.last_arrival is not None and now - self.last_arrival > 0.040:
            self.gaps_over_40ms += 1
        self.last_arrival = now

    def report(self) -> dict[str, float]:
        expected = self.highest - self.base + 1 if self.base is not None else 0
        return {
            "packets": self.packets,
            "received": self.packets,
            "lost": max(0, expected - self.packets),
            "expected": expected,
            "jitter_ms": self.jitter / self.rate * 1e3,
            "gaps_over_40ms": self.gaps_over_40ms,
        }


@dataclass
class Media:
    """One leg's RTP above SRTP, on the wire `take_over` gave it: sends the tone, counts (and maybe decodes)."""

    packets: list[bytes]
    level: int
    checker: bool
    payload_type: int = 111
    level_id: int = 0
    wire: Wire | None = None
    stream: Stream = field(default_factory=Stream)
    recording: bool = False
    frames: list[np.ndarray] = field(default_factory=list)
    due: float = 0.0
    _index: int = 0
    _sequence: int = field(default_factory=lambda: random.randrange(1 << 16))
    _timestamp: int = field(default_factory=lambda: random.randrange(1 << 32))
    _decoder: Decoder | None = None

    async def attach(self, pc: RTCPeerConnection) -> None:
        remote = pc.remoteDescription.sdp
        opus, level = _OPUS.search(remote), _LEVEL.search(remote)
        self.payload_type = int(opus.group(1)) if opus else self.payload_type
        self.level_id = int(level.group(1)) if level else 0
        if self.checker:
            self._decoder = Decoder()
        # Gated only now, once connected: a load generator needs no protection during set-up.
        self.wire = await take_over(pc, guard(pc, lambda: None), self._datagram)

    def send_next(self) -> None:
        wire = self.wire
        if wire is None:
            return
        payload = self.packets[self._index % len(self.packets)]
        sequence, timestamp = self._sequence & 0xFFFF, self._timestamp & 0xFFFFFFFF
        if self.level_id:
            header = _LEVEL_HEADER.pack(
                0x90,
                self.payload_type,
                sequence,
                timestamp,
                wire.ssrc,
                rtp.ONE_BYTE_PROFILE,
                1,
                self.level_id << 4,
                0x80 | self.level,
                0,
            )
        else:
            header = rtp.header(self.payload_type, sequence, timestamp, wire.ssrc)
        self._index += 1
        self._sequence += 1
        self._timestamp += FRAME
        with contextlib.suppress(Exception):  # a leg torn down under the pacer
            wire.send(wire.tx.protect(header + payload))

    def _datagram(self, _protocol: StunProtocol, data: bytes, _source: tuple[str, int]) -> None:
        if self.wire is None or rtp.is_rtcp(data):
            return  # the server's reports: not what is measured
        try:
            clear = self.wire.rx.unprotect(data)
        except Exception:
            return
        first, second, sequence, timestamp = _RECEIVED.unpack_from(clear)
        if second & 0x7F != self.payload_type:
            return
        self.stream.packet(sequence, timestamp, time.monotonic())
        if self._decoder is not None:
            pcm = self._decoder.decode(rtp.parse(clear).payload)
            if self.recording:
                self.frames.append(pcm)

    def reset(self) -> None:
        self.stream = Stream()
        self.frames = []
        self.recording = True


class Pacer:
    """One timer for every leg of a process: each leg's packets at 50/s on its own phase."""

    def __init__(self) -> None:
        self.legs: list[Media] = []
        self._handle: asyncio.TimerHandle | None = None

    def add(self, media: Media) -> None:
        loop = asyncio.get_running_loop()
        media.due = loop.time() + random.uniform(0, PERIOD)
        self.legs.append(media)
        if self._handle is None:
            self._handle = loop.call_at(loop.time() + PACER_RESOLUTION, self._run)

    def _run(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for media in self.legs:
            while media.due <= now:
                media.send_next()
                media.due += PERIOD
        self._handle = loop.call_at(now + PACER_RESOLUTION, self._run)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


async def connected(pc: RTCPeerConnection, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while pc.connectionState != "connected":
            await asyncio.sleep(0.05)


class BenchPeer(Peer):
    """A page whose media is a light leg (`Media`), started on the pacer once its connection is up."""

    def __init__(
        self, base_url: str, name: str, frequency: int, amplitude: float, checker: bool, pacer: Pacer | None = None
    ) -> None:
        super().__init__(base_url, name, frequency, auto_accept=True, amplitude=amplitude)
        self.checker = checker
        self.pacer = pacer
        self.media = Media(encoded_tone(int(frequency), amplitude), tone_level(amplitude), checker)

    async def _answer(self, offer: dict[str, Any]) -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs[offer["leg_id"]] = pc
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        pc.addTrack(SilentTrack())
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send({"type": "answer", "leg_id": offer["leg_id"], "sdp": pc.localDescription.sdp})
        self._tasks.append(asyncio.create_task(self._start(pc)))

    async def _start(self, pc: RTCPeerConnection) -> None:
        await connected(pc)
        await self.media.attach(pc)
        assert self.pacer is not None
        self.pacer.add(self.media)


def tones_present(
    frames: list[np.ndarray], expected: list[int], amplitude: float, frame_size: int = FRAME
) -> tuple[int, int]:
    """Of (frame, expected tone) pairs, how many hold the tone at a quarter of its sent amplitude or more.

    A frame is 20 ms (960 samples at 48 kHz, 160 at 8 kHz): its FFT bins are 50 Hz apart either way.

    aiortc's Opus encoder (the one the tones were encoded with) upmixes mono to stereo at -3 dB; a
    frame without the tone reads ~0.
    """
    present = total = 0
    bins = [f // 50 for f in expected]
    for frame in frames:
        if len(frame) != frame_size:
            continue
        spectrum = np.abs(np.fft.rfft(frame.astype(np.float64))) * 2 / frame_size / 32767
        for b in bins:
            total += 1
            present += spectrum[b] >= 0.25 * amplitude
    return present, total


async def conference(url: str, tag: str, size: int, amplitude: float, checker: bool, pacer: Pacer) -> list[BenchPeer]:
    """A conference of `size` legs: the chair calls one, then adds the rest one by one."""
    peers = [BenchPeer(url, f"{tag}p{i}", frequency_for(i), amplitude, checker and i == 0, pacer) for i in range(size)]
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


async def called_page(url: str, tag: str, amplitude: float, checker: bool, pacer: Pacer) -> list[BenchPeer]:
    """A page that waits to be called (by a telephone, bench/sip_media.py) and accepts; its tone is position 0's."""
    page = BenchPeer(url, f"{tag}p0", frequency_for(0), amplitude, checker, pacer)
    await page.__aenter__()
    return [page]


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
    pin_self(core)
    restrict_host_candidates(media_address)
    # uvloop, as uvicorn gives the server: the per-datagram cost of the loop is most of a light leg's.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_client(pipe, url, groups, amplitude, target))


async def _client(pipe: Any, url: str, groups: list[tuple[str, int, bool]], amplitude: float, target: str) -> None:
    loop = asyncio.get_running_loop()
    peers: list[Any] = []
    gate = asyncio.Semaphore(4)
    pacer = Pacer()
    session = None
    if target == "janus":
        from bench import janus

        session = janus.Session(url)
        await session.open()

    async def one(tag: str, size: int, checker: bool) -> list[Any]:
        async with gate:
            if session is not None:
                from bench import janus

                return await janus.conference(session, tag, size, amplitude, checker, pacer)
            if target == "sip":
                return await called_page(url, tag, amplitude, checker, pacer)
            return await conference(url, tag, size, amplitude, checker, pacer)

    try:
        for group in await asyncio.gather(*(one(*g) for g in groups)):
            peers += group
        if target == "sip":
            pipe.send(("connected", len(peers)))  # the bench's telephones may call now
        # Every leg's media must be up (taken over and paced) before the bench counts it.
        async with asyncio.timeout(120 if target == "sip" else 60):
            while len(pacer.legs) < len(peers):
                await asyncio.sleep(0.05)
        pipe.send(("ready", len(peers)))
        command = await loop.run_in_executor(None, pipe.recv)
        assert command == "start"
        for peer in peers:
            peer.media.reset()
        cpu_before, wall_before = sum(os.times()[:2]), time.monotonic()
        command = await loop.run_in_executor(None, pipe.recv)
        assert command == "stop"
        cpu = sum(os.times()[:2]) - cpu_before
        wall = time.monotonic() - wall_before
        for peer in peers:
            peer.media.recording = False
        legs = [p.media.stream.report() for p in peers if not p.checker]
        checks = []
        for peer in [p for p in peers if p.checker]:
            size = next(g[1] for g in groups if peer.name.startswith(g[0] + "p"))
            expected = [frequency_for(i) for i in range(1, size)]
            present, total = tones_present(peer.media.frames[5:], expected, amplitude)
            checks.append(
                {"present": present, "total": total, "frames": len(peer.media.frames)} | peer.media.stream.report()
            )
        pipe.send(("result", {"legs": legs, "checks": checks, "cpu": cpu, "wall": wall}))
        await loop.run_in_executor(None, pipe.recv)  # "quit"
        if target == "sip":
            # The pages hang up: Talkbox sends each telephone its BYE, which ends the telephone's scenario.
            for peer in peers:
                with contextlib.suppress(Exception):
                    await peer.hang_up()
            for peer in peers:
                with contextlib.suppress(Exception):
                    await peer.wait_for(lambda peer=peer: peer.last_conference()["status"] == "ended", timeout=10)
    finally:
        pacer.close()
        for peer in peers:
            with contextlib.suppress(Exception):
                await peer.__aexit__()
        if session is not None:
            await session.close()

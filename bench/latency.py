"""(2) Latency: a tone burst sent by one leg, the time until another leg hears it.

Both legs are aiortc clients in this process (core 1); the path under test runs elsewhere:

- `direct`: aiortc to aiortc, no server: what the two clients' own send and receive paths cost
  (aiortc's receive path has a fixed jitter buffer: research/media.md);
- `talkbox`: through the built-in engine's mixer (bench/server.py on core 0), a call of two;
- `janus`: through Janus's AudioBridge (bench/janus.py), when Janus is there.

The sender sends pre-encoded Opus silence, and every second a 100 ms burst of a 1 kHz tone; the
send time is when the burst's first packet leaves the sending track (aiortc sends it at once).
The receiver decodes and timestamps every 20 ms frame as aiortc hands it over; the burst is
heard in the first frame holding the tone. Resolution: one frame (20 ms). After BURSTS bursts,
one RTP packet from the sender is dropped (between bursts), and BURSTS more are timed: what one
lost packet does. "added" is each path's median minus the direct path's median without loss
(through a server the packet is lost on the sender-to-server hop, so the receiving client's
own path is unaffected; on the direct path the loss hits the receiving client itself).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bench.clients import FRAME, BenchPeer, PacketTrack, encoded_tone
from bench.common import cell, percentile, pin_self, server, summary

BURSTS = 15
BURST_FRAMES = 5
TONE = 1000
THRESHOLD = 0.05  # the burst is sent at 0.4 and arrives near 0.2 (see clients.tones_present)


class Bursts:
    """The sender's track and the receiver's clock, for one path."""

    def __init__(self) -> None:
        self.track = PacketTrack(encoded_tone(TONE, 0.4), silence=encoded_tone(TONE, 0.0))
        self.heard: list[float] = []  # times frames holding the tone were handed over
        self._in_burst = False
        self.drop_next = False
        self.dropped = 0

    async def record(self, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                samples = frame.to_ndarray().reshape(-1)
                if len(samples) == 2 * frame.samples:
                    samples = samples[::2]
                if len(samples) != FRAME:
                    continue
                level = np.abs(np.fft.rfft(samples.astype(np.float64)))[TONE // 50] * 2 / FRAME / 32767
                loud = level >= THRESHOLD
                if loud and not self._in_burst:
                    self.heard.append(loop.time())
                self._in_burst = loud

    def lossy(self, transport: Any) -> None:
        """Wrap a DTLS transport so that `drop_next` drops the next RTP packet (not RTCP)."""
        send = transport._send_rtp

        async def maybe_send(data: bytes) -> None:
            if self.drop_next and not 192 <= data[1] <= 223:
                self.drop_next = False
                self.dropped += 1
                return
            await send(data)

        transport._send_rtp = maybe_send

    async def measure(self) -> dict[str, list[float]]:
        loop = asyncio.get_running_loop()
        out: dict[str, list[float]] = {"before": [], "after": []}
        await asyncio.sleep(2)  # let both ends settle
        for phase in ("before", "after"):
            if phase == "after":
                self.drop_next = True
                await asyncio.sleep(0.5)
            for _ in range(BURSTS):
                self.heard.clear()
                self.track.burst_frames = BURST_FRAMES
                sent = loop.time() + 0.0
                # The burst starts with the next packet the track hands over.
                index = self.track.index
                while self.track.index == index:
                    await asyncio.sleep(0.001)
                start = self.track._start
                assert start is not None
                sent = start + index * FRAME / 48_000
                await asyncio.sleep(1.0)
                if self.heard:
                    out[phase].append((self.heard[0] - sent) * 1e3)
        return out


async def direct() -> dict[str, list[float]]:
    bursts = Bursts()
    sender, receiver = RTCPeerConnection(RTCConfiguration(iceServers=[])), RTCPeerConnection(
        RTCConfiguration(iceServers=[])
    )
    sender.addTrack(bursts.track)

    @receiver.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        asyncio.ensure_future(bursts.record(track))

    try:
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        while sender.connectionState != "connected":
            await asyncio.sleep(0.05)
        bursts.lossy(sender.getSenders()[0].transport)
        return await bursts.measure()
    finally:
        await sender.close()
        await receiver.close()


class BurstPeer(BenchPeer):
    bursts: Bursts

    async def _answer(self, offer: dict[str, Any]) -> None:
        from aiortc import RTCSessionDescription

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs[offer["leg_id"]] = pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.create_task(self.bursts.record(track)))

        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        pc.addTrack(self.bursts.track)
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send({"type": "answer", "leg_id": offer["leg_id"], "sdp": pc.localDescription.sdp})


async def through_talkbox(url: str) -> dict[str, list[float]]:
    from talkbox.media.ice import restrict_host_candidates

    restrict_host_candidates("127.0.0.1")
    sending, hearing = Bursts(), Bursts()
    alice = BurstPeer(url, "alice", TONE, 0.4, checker=False)
    bob = BurstPeer(url, "bob", TONE, 0.4, checker=False)
    alice.bursts, bob.bursts = sending, hearing
    # alice sends the bursts; bob hears them. bob's own track stays silent (burst_frames = 0).
    async with alice, bob:
        await alice.call("bob")

        def live() -> bool:
            active = [c for c in alice.conferences.values() if c["status"] == "active"]
            return bool(active) and all(leg["status"] == "in-progress" for leg in active[0]["legs"])

        await alice.wait_for(live, timeout=60)
        pc = next(iter(alice.pcs.values()))
        sending.lossy(pc.getSenders()[0].transport)
        # bob's recorder sees alice's bursts: share the clock and the list.
        sending.heard = hearing.heard
        return await sending.measure()


def stats(samples: list[dict[str, list[float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for phase in ("before", "after"):
        out[f"{phase}_p50_ms"] = summary([percentile(s[phase], 0.5) for s in samples])
        out[f"{phase}_p95_ms"] = summary([percentile(s[phase], 0.95) for s in samples])
        out[f"{phase}_heard"] = [len(s[phase]) for s in samples]
    return out


def run(runs: int, **_: Any) -> dict[str, Any]:
    from bench import janus

    pin_self("1")
    result: dict[str, Any] = {"setup": f"{BURSTS} bursts of {BURST_FRAMES * 20} ms before and after one lost packet"}
    result["direct"] = stats([asyncio.run(direct()) for _ in range(runs)])
    samples = []
    for _ in range(runs):
        with server("builtin") as s:
            samples.append(asyncio.run(through_talkbox(s.url)))
    result["talkbox"] = stats(samples)
    if janus.available():
        samples = []
        for _ in range(runs):
            with janus.running() as gateway:
                samples.append(asyncio.run(janus.latency(gateway)))
        result["janus"] = stats(samples)
    # The lost packet is on the sender-to-server hop, so the receiving client's own path is as it
    # was before the loss: what a server adds is measured against the direct path without loss.
    baseline = result["direct"]["before_p50_ms"]["median"]
    for path in ("talkbox", "janus"):
        if path in result:
            for phase in ("before", "after"):
                a = result[path][f"{phase}_p50_ms"]["median"]
                result[path][f"added_{phase}_ms"] = a - baseline if a is not None and baseline is not None else None
    if "janus" in result and result["janus"]["added_before_ms"]:
        result["ratio_added_talkbox_to_janus"] = {
            phase: result["talkbox"][f"added_{phase}_ms"] / result["janus"][f"added_{phase}_ms"]
            for phase in ("before", "after")
        }
    return result


def added(result: dict[str, Any], path: str, phase: str) -> float:
    """Path p50 minus the direct path's p50 without loss (recomputed: older results kept another baseline)."""
    return result[path][f"{phase}_p50_ms"]["median"] - result["direct"]["before_p50_ms"]["median"]


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    rows = []
    for path in ("direct", "talkbox", "janus"):
        if path not in result:
            rows.append([path, "not measured", "", "", "", "", ""])
            continue
        r = result[path]
        rows.append(
            [
                path,
                cell(r["before_p50_ms"]),
                cell(r["before_p95_ms"]),
                cell(r["after_p50_ms"]),
                cell(r["after_p95_ms"]),
                "-" if path == "direct" else f"{added(result, path, 'before'):.0f} / "
                f"{added(result, path, 'after'):.0f}",
                f"{sum(r['before_heard'])}+{sum(r['after_heard'])} of {BURSTS * len(r['before_heard'])}+"
                f"{BURSTS * len(r['after_heard'])}",
            ]
        )
    return [
        (
            "Latency: burst sent to burst heard, aiortc clients (ms)",
            ["path", "p50", "p95", "p50 after 1 loss", "p95 after 1 loss", "added vs direct, p50 (before / after)",
             "bursts heard"],
            rows,
        )
    ]

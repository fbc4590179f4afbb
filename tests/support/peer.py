"""A page stand-in on aiortc: speaks the websocket protocol and plays a tone.

Component tests use it to drive the server without a browser; the e2e tests
use real Chromium instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
from collections import deque
from typing import Any, Self

import numpy as np
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from tests.support.audio import RATE, level_at, to_mono

FRAME = 960


class ToneTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, frequency: float, amplitude: float = 0.4) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self._pts / RATE - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(FRAME) + self._pts) / RATE
        samples = (self.amplitude * 32767 * np.sin(2 * np.pi * self.frequency * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        frame.pts = self._pts
        self._pts += FRAME
        return frame


class Peer:
    def __init__(
        self,
        base_url: str,
        name: str,
        frequency: float,
        auto_accept: bool = False,
        amplitude: float = 0.4,
        since: int | None = None,
        reconnect: bool = False,
    ) -> None:
        """`since`: the last sequence a page saw before it reconnected (several nodes on Redis).

        `reconnect`: as the page does, open a new socket (with `since`) whenever the server closes it, keeping
        the media as it is; `closes` lists the codes it was closed with.
        """
        self.socket_url = f"{base_url.replace('http', 'ws', 1)}/ws?client_name={name}"
        self.url = self.socket_url if since is None else f"{self.socket_url}&since={since}"
        self.reconnect = reconnect
        self.closes: list[int | None] = []
        self.name = name
        self.frequency = frequency
        self.amplitude = amplitude
        self.auto_accept = auto_accept
        self.auto_answer_own_leg = True
        self.messages: list[dict[str, Any]] = []
        self.last_seq: int | None = None
        self.conferences: dict[str, dict[str, Any]] = {}
        self.offers: dict[str, dict[str, Any]] = {}
        self.answered: dict[str, str] = {}  # leg id -> the SDP of the offer last answered for it
        self.heard: deque[np.ndarray] = deque(maxlen=50)  # the last second
        self.heard_on: dict[str, deque[np.ndarray]] = {}  # the same, per leg: a user on two calls hears each apart
        self.frames = 0  # every frame heard, for rates
        self.pcs: dict[str, RTCPeerConnection] = {}
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        self.socket = await websockets.connect(self.url)
        self._tasks.append(asyncio.create_task(self._listen()))
        await self.wait_for(lambda: any(m["type"] == "welcome" for m in self.messages))
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self._tasks:
            task.cancel()
        for pc in self.pcs.values():
            await pc.close()
        await self.socket.close()

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def call(self, to: str) -> None:
        await self.send({"type": "call", "to": to})

    async def accept(self) -> None:
        leg_id = next(iter(self.offers))
        await self._answer(self.offers.pop(leg_id))

    async def reject(self) -> None:
        await self.send({"type": "reject", "leg_id": self.offers.pop(next(iter(self.offers)))["leg_id"]})

    async def add(self, to: str) -> None:
        await self.send({"type": "add", "conference_id": self.active_conference()["id"], "to": to})

    async def remove(self, who: str) -> None:
        conference = self.active_conference()
        leg = next(leg for leg in conference["legs"] if leg["destination"] == who and leg["end_reason"] is None)
        await self.send({"type": "remove", "conference_id": conference["id"], "leg_id": leg["id"]})

    async def mute(self, who: str, muted: bool = True) -> None:
        conference = self.active_conference()
        leg = next(leg for leg in conference["legs"] if leg["destination"] == who and leg["end_reason"] is None)
        await self.send({"type": "mute", "conference_id": conference["id"], "leg_id": leg["id"], "muted": muted})

    async def resume(self) -> None:
        """What a reloaded page does: ask again for the media of its live leg."""
        await self.wait_for(lambda: any(c["status"] == "active" for c in self.conferences.values()))
        leg = self.my_leg(self.active_conference())
        await self.send({"type": "resume", "leg_id": leg["id"]})

    def refusals(self) -> list[str]:
        return [m["code"] for m in self.messages if m["type"] == "refused"]

    async def hang_up(self) -> None:
        await self.send({"type": "hang_up", "conference_id": self.active_conference()["id"]})

    def active_conference(self) -> dict[str, Any]:
        return next(c for c in self.conferences.values() if c["status"] == "active")

    def last_conference(self) -> dict[str, Any]:
        return list(self.conferences.values())[-1]

    def my_leg(self, conference: dict[str, Any]) -> dict[str, Any]:
        return next(leg for leg in conference["legs"] if leg["destination"] == self.name)

    def level(self, frequency: float, leg_id: str | None = None) -> float:
        """What this page hears at `frequency` over the last second: of all its legs, or of one."""
        heard = self.heard if leg_id is None else self.heard_on.get(leg_id, ())
        if not heard:
            return -120.0
        return level_at(np.concatenate(list(heard)), frequency)

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await self._changed.wait()

    async def _listen(self) -> None:
        while True:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for text in self.socket:
                    self._received(text)
            self.closes.append(self.socket.close_code)
            self._changed.set()
            if not self.reconnect:
                return
            await self._reopen()

    async def _reopen(self) -> None:
        """Through the same address (a balancer's), with the last sequence seen, until a server takes it."""
        while True:
            await asyncio.sleep(0.2)
            since = "" if self.last_seq is None else f"&since={self.last_seq}"
            with contextlib.suppress(OSError, websockets.InvalidHandshake):
                self.socket = await websockets.connect(self.socket_url + since)
                return

    def _received(self, text: str | bytes) -> None:
        message = json.loads(text)
        self.messages.append(message)
        self.last_seq = message.get("seq", self.last_seq)
        if message["type"] == "conference":
            self.conferences[message["conference"]["id"]] = message["conference"]
        elif message["type"] == "offer":
            if (message["auto_answer"] and self.auto_answer_own_leg) or self.auto_accept:
                asyncio.create_task(self._answer(message))
            else:
                self.offers[message["leg_id"]] = message
        self._changed.set()

    async def _answer(self, offer: dict[str, Any]) -> None:
        if self.answered.get(offer["leg_id"]) == offer["sdp"]:
            return  # as the page does: the very offer it answered, sent again, changes nothing
        self.answered[offer["leg_id"]] = offer["sdp"]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        replaced = self.pcs.get(offer["leg_id"])
        self.pcs[offer["leg_id"]] = pc
        if replaced is not None:  # as the page does: the old media goes first
            await replaced.close()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.create_task(self._hear(track, offer["leg_id"])))

        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        pc.addTrack(ToneTrack(self.frequency, self.amplitude))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send({"type": "answer", "leg_id": offer["leg_id"], "sdp": pc.localDescription.sdp})

    async def _hear(self, track: MediaStreamTrack, leg_id: str) -> None:
        on_leg = self.heard_on.setdefault(leg_id, deque(maxlen=50))
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = to_mono(await track.recv())
                self.heard.append(frame)
                on_leg.append(frame)
                self.frames += 1
                self._changed.set()


async def connect(caller: Peer, callee: Peer) -> str:
    """caller calls callee, who accepts; both hear each other. Returns the SDP the callee was offered."""
    await caller.call(callee.name)
    await callee.wait_for(lambda: callee.offers)
    sdp = next(iter(callee.offers.values()))["sdp"]
    await callee.accept()
    await caller.wait_for(lambda: caller.level(callee.frequency) > -20)
    await callee.wait_for(lambda: callee.level(caller.frequency) > -20)
    return sdp

"""The built-in provider: one RTCPeerConnection per browser leg, a Mixer per conference.

It carries out the rules' commands (dial, hang up, mute) and hears the pages'
answers through the bus; what happens to a leg goes back as LegStatusChanged.
A leg outlives its peer connection: a reloaded page, or a page after a server
restart, gets a fresh one for the same leg (`resume`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from talkbox.events.models import (
    ClientAnsweredLeg,
    ClientLegFailed,
    ClientRejectedLeg,
    ClientResumesLeg,
    Event,
    LegOffered,
    LegStatus,
    LegStatusChanged,
    PresenceChanged,
)
from talkbox.events.names import is_client_name
from talkbox.providers.builtin.ice import advertise, restrict_host_candidates
from talkbox.providers.builtin.mixer import Mixer, to_mono
from talkbox.telephony.provider import ResumeLeg
from talkbox.telephony.rules import DialLeg, HangUpLeg, MuteLeg

log = logging.getLogger(__name__)


@dataclass
class EngineSettings:
    media_host: str = "127.0.0.1"
    public_address: str | None = None
    ice_servers: tuple[str, ...] = ()
    ring_timeout: float = 30.0
    connect_timeout: float = 15.0
    resume_grace: float = 30.0


@dataclass
class MediaLeg:
    command: DialLeg
    pc: RTCPeerConnection | None = None
    offer: LegOffered | None = None
    answered: bool = False
    connected: bool = False  # reported in-progress; stays so across a new peer connection
    ended: bool = False
    timer: asyncio.TimerHandle | None = None
    reader: asyncio.Task[None] | None = None


@dataclass
class Sequence:
    """Report numbers that keep growing across restarts: microseconds of wall time, made unique."""

    last: int = 0

    def next(self) -> int:
        self.last = max(self.last + 1, time.time_ns() // 1000)
        return self.last


@dataclass
class BuiltinProvider:
    publish: Callable[[Event], Awaitable[None]]
    settings: EngineSettings = field(default_factory=EngineSettings)
    name: str = "builtin"
    online: Counter[str] = field(default_factory=Counter)
    legs: dict[str, MediaLeg] = field(default_factory=dict)
    mixers: dict[str, Mixer] = field(default_factory=dict)
    sequence: Sequence = field(default_factory=Sequence)

    handles = (PresenceChanged, ClientAnsweredLeg, ClientRejectedLeg, ClientLegFailed, ClientResumesLeg)

    def __post_init__(self) -> None:
        restrict_host_candidates(self.settings.media_host)

    async def close(self) -> None:
        """Drop all media without ending any leg: the store keeps them live for the next boot."""
        for leg in list(self.legs.values()):
            leg.ended = True
            self._disarm(leg)
            await self._drop_media(leg)
        self.legs.clear()
        for mixer in self.mixers.values():
            await mixer.close()
        self.mixers.clear()

    # --- commands from the rules -----------------------------------------------

    async def dial(self, command: DialLeg) -> None:
        await self._report(command, "initiated")
        if not is_client_name(command.destination):
            await self._report(command, "failed", "unsupported")
            return
        if not self.online[command.destination]:
            await self._report(command, "failed", "unavailable")
            return
        leg = MediaLeg(command)
        self.legs[command.leg_id] = leg
        if not await self._offer(leg, command.auto_answer):
            return
        await self._report(command, "ringing")
        if command.auto_answer:
            self._arm(leg, self.settings.connect_timeout, "failed", "media")
        else:
            self._arm(leg, self.settings.ring_timeout, "no-answer", "timeout")

    async def hang_up(self, command: HangUpLeg) -> None:
        leg = self.legs.get(command.leg_id)
        if leg is None:
            # Never reached the engine (or already gone): still tell the rules it ended.
            await self.publish(
                LegStatusChanged(
                    conference_id=command.conference_id,
                    leg_id=command.leg_id,
                    status="canceled",
                    sequence=self.sequence.next(),
                    reason=command.reason,
                )
            )
            return
        await self._end(leg, "completed" if leg.connected else "canceled", command.reason)

    async def mute(self, command: MuteLeg) -> None:
        self._mixer(command.conference_id).mute(command.leg_id, command.muted)

    async def resume(self, command: ResumeLeg) -> None:
        dial = DialLeg(command.conference_id, command.leg_id, command.destination, command.destination, True)
        if command.status != "in-progress" or not is_client_name(command.destination):
            await self._report(dial, "failed", "server-restart")
            return
        leg = MediaLeg(dial, answered=True, connected=True)
        self.legs[command.leg_id] = leg
        self._mixer(command.conference_id).mute(command.leg_id, command.muted)
        self._arm(leg, self.settings.resume_grace, "failed", "lost")

    # --- events from the pages ---------------------------------------------------

    async def handle(self, event: Event) -> None:
        if isinstance(event, PresenceChanged):
            await self._presence(event)
            return
        leg = self.legs.get(event.leg_id)
        if leg is None or leg.ended or leg.command.destination != event.user:
            return  # not this user's leg
        if isinstance(event, ClientResumesLeg):
            if leg.connected:
                await self._offer(leg, auto_answer=True)
                self._arm(leg, self.settings.resume_grace, "failed", "lost")
            return
        if leg.answered:
            return  # already taken, by another page of the same user
        if isinstance(event, ClientAnsweredLeg):
            await self._answer(leg, event.sdp)
        elif isinstance(event, ClientRejectedLeg):
            await self._end(leg, "busy", "rejected")
        elif isinstance(event, ClientLegFailed):
            await self._end(leg, "completed" if leg.connected else "failed", event.reason)

    async def _presence(self, event: PresenceChanged) -> None:
        self.online[event.user] += 1 if event.online else -1
        if self.online[event.user] <= 0:
            del self.online[event.user]
        if event.online:
            # A page that has just (re)connected rings again for every leg still unanswered.
            for leg in self.legs.values():
                if leg.command.destination == event.user and leg.offer is not None and not leg.answered:
                    await self.publish(leg.offer)

    async def _answer(self, leg: MediaLeg, sdp: str) -> None:
        assert leg.pc is not None
        leg.answered = True
        self._arm(leg, self.settings.connect_timeout, "failed", "lost" if leg.connected else "media")
        try:
            await leg.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception:
            log.warning("unusable SDP answer for leg %s", leg.command.leg_id, exc_info=True)
            await self._end(leg, "completed" if leg.connected else "failed", "media")

    # --- the peer connection -----------------------------------------------------

    async def _offer(self, leg: MediaLeg, auto_answer: bool) -> bool:
        """A new peer connection for the leg (replacing any old one) and its offer to the user."""
        await self._drop_media(leg)
        pc = self._peer_connection()
        leg.pc, leg.answered = pc, False
        self._watch(leg, pc)
        pc.addTransceiver(self._mixer(leg.command.conference_id).add(leg.command.leg_id), direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        if leg.ended or leg.pc is not pc:  # hung up, or replaced, while the offer was made
            return False
        command = leg.command
        leg.offer = LegOffered(
            user=command.destination,
            conference_id=command.conference_id,
            leg_id=command.leg_id,
            caller=command.caller,
            sdp=advertise(pc.localDescription.sdp, self.settings.media_host, self.settings.public_address),
            auto_answer=auto_answer,
        )
        await self.publish(leg.offer)
        return True

    def _peer_connection(self) -> RTCPeerConnection:
        # An explicit list, even empty: left unset, aiortc asks a public STUN server.
        servers = [RTCIceServer(urls=url) for url in self.settings.ice_servers]
        return RTCPeerConnection(RTCConfiguration(iceServers=servers))

    def _watch(self, leg: MediaLeg, pc: RTCPeerConnection) -> None:
        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio" and leg.pc is pc:
                leg.reader = asyncio.create_task(self._read(leg, track))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if leg.pc is not pc or leg.ended:
                return  # an old connection of a resumed leg
            if pc.connectionState == "connected":
                self._disarm(leg)
                if not leg.connected:
                    leg.connected = True
                    await self._report(leg.command, "in-progress")
            elif pc.connectionState == "failed":
                await self._end(leg, "completed" if leg.connected else "failed", "media")

    async def _read(self, leg: MediaLeg, track: MediaStreamTrack) -> None:
        mixer = self._mixer(leg.command.conference_id)
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                mixer.feed(leg.command.leg_id, to_mono(frame))

    async def _drop_media(self, leg: MediaLeg) -> None:
        pc, leg.pc = leg.pc, None
        if leg.reader is not None:
            leg.reader.cancel()
            leg.reader = None
        if pc is not None:
            await pc.close()

    def _mixer(self, conference_id: str) -> Mixer:
        if conference_id not in self.mixers:
            self.mixers[conference_id] = Mixer(conference_id)
        return self.mixers[conference_id]

    def _arm(self, leg: MediaLeg, seconds: float, status: LegStatus, reason: str) -> None:
        self._disarm(leg)
        loop = asyncio.get_running_loop()
        leg.timer = loop.call_later(seconds, lambda: asyncio.ensure_future(self._end(leg, status, reason)))

    def _disarm(self, leg: MediaLeg) -> None:
        if leg.timer is not None:
            leg.timer.cancel()
            leg.timer = None

    async def _end(self, leg: MediaLeg, status: LegStatus, reason: str) -> None:
        if leg.ended:
            return
        leg.ended = True
        self._disarm(leg)
        self.legs.pop(leg.command.leg_id, None)
        conference_id = leg.command.conference_id
        mixer = self.mixers.get(conference_id)
        if mixer is not None:
            mixer.remove(leg.command.leg_id)
            if mixer.empty:
                del self.mixers[conference_id]
                await mixer.close()
        await self._drop_media(leg)
        await self._report(leg.command, status, reason)

    async def _report(self, command: DialLeg, status: LegStatus, reason: str | None = None) -> None:
        await self.publish(
            LegStatusChanged(
                conference_id=command.conference_id,
                leg_id=command.leg_id,
                status=status,
                sequence=self.sequence.next(),
                reason=reason,
            )
        )

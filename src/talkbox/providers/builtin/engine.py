"""The built-in provider: one RTCPeerConnection per browser leg, a Mixer per conference.

It carries out the rules' commands (dial, hang up) and hears the pages'
answers through the bus; what happens to a leg goes back as LegStatusChanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from talkbox.events.models import (
    ClientAnsweredLeg,
    ClientLegFailed,
    ClientRejectedLeg,
    Event,
    LegOffered,
    LegStatus,
    LegStatusChanged,
    PresenceChanged,
)
from talkbox.events.names import is_client_name
from talkbox.providers.builtin.ice import advertise, restrict_host_candidates
from talkbox.providers.builtin.mixer import Mixer, to_mono
from talkbox.telephony.rules import DialLeg, HangUpLeg, MuteLeg

log = logging.getLogger(__name__)


@dataclass
class EngineSettings:
    media_host: str = "127.0.0.1"
    public_address: str | None = None
    ice_servers: tuple[str, ...] = ()
    ring_timeout: float = 30.0
    connect_timeout: float = 15.0


@dataclass
class MediaLeg:
    command: DialLeg
    pc: RTCPeerConnection
    answered: bool = False
    connected: bool = False
    ended: bool = False
    timer: asyncio.TimerHandle | None = None
    reader: asyncio.Task[None] | None = None


@dataclass
class BuiltinProvider:
    publish: Callable[[Event], Awaitable[None]]
    settings: EngineSettings = field(default_factory=EngineSettings)
    name: str = "builtin"
    online: Counter[str] = field(default_factory=Counter)
    legs: dict[str, MediaLeg] = field(default_factory=dict)
    mixers: dict[str, Mixer] = field(default_factory=dict)
    _sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    handles = (PresenceChanged, ClientAnsweredLeg, ClientRejectedLeg, ClientLegFailed)

    def __post_init__(self) -> None:
        restrict_host_candidates(self.settings.media_host)

    async def close(self) -> None:
        for leg in list(self.legs.values()):
            await self._end(leg, "completed", "ended")

    # --- commands from the rules -----------------------------------------------

    async def dial(self, command: DialLeg) -> None:
        await self._report(command, "initiated")
        if not is_client_name(command.destination):
            await self._report(command, "failed", "unsupported")
            return
        if not self.online[command.destination]:
            await self._report(command, "failed", "unavailable")
            return
        leg = MediaLeg(command, self._peer_connection())
        self.legs[command.leg_id] = leg
        self._watch(leg)
        mixer = self.mixers.setdefault(command.conference_id, Mixer(command.conference_id))
        leg.pc.addTransceiver(mixer.add(command.leg_id), direction="sendrecv")
        await leg.pc.setLocalDescription(await leg.pc.createOffer())
        if leg.ended:  # hung up while the offer was being made
            return
        sdp = advertise(leg.pc.localDescription.sdp, self.settings.media_host, self.settings.public_address)
        await self.publish(
            LegOffered(
                user=command.destination,
                conference_id=command.conference_id,
                leg_id=command.leg_id,
                caller=command.caller,
                sdp=sdp,
                auto_answer=command.auto_answer,
            )
        )
        await self._report(command, "ringing")
        timeout = self.settings.connect_timeout if command.auto_answer else self.settings.ring_timeout
        status: LegStatus = "failed" if command.auto_answer else "no-answer"
        reason = "media" if command.auto_answer else "timeout"
        self._arm(leg, timeout, status, reason)

    async def hang_up(self, command: HangUpLeg) -> None:
        leg = self.legs.get(command.leg_id)
        if leg is None:
            # Never reached the engine (or already gone): still tell the rules it ended.
            await self.publish(
                LegStatusChanged(
                    conference_id=command.conference_id,
                    leg_id=command.leg_id,
                    status="canceled",
                    sequence=next(self._sequence),
                    reason=command.reason,
                )
            )
            return
        await self._end(leg, "completed" if leg.connected else "canceled", command.reason)

    async def mute(self, command: MuteLeg) -> None:
        mixer = self.mixers.get(command.conference_id)
        if mixer is not None:
            mixer.mute(command.leg_id, command.muted)

    # --- events from the pages ---------------------------------------------------

    async def handle(self, event: Event) -> None:
        if isinstance(event, PresenceChanged):
            self.online[event.user] += 1 if event.online else -1
            if self.online[event.user] <= 0:
                del self.online[event.user]
            return
        leg = self.legs.get(event.leg_id)
        if leg is None or leg.ended or leg.command.destination != event.user or leg.answered:
            return  # not this user's leg, or already taken by another of their pages
        if isinstance(event, ClientAnsweredLeg):
            await self._answer(leg, event.sdp)
        elif isinstance(event, ClientRejectedLeg):
            await self._end(leg, "busy", "rejected")
        elif isinstance(event, ClientLegFailed):
            await self._end(leg, "failed", event.reason)

    async def _answer(self, leg: MediaLeg, sdp: str) -> None:
        leg.answered = True
        self._arm(leg, self.settings.connect_timeout, "failed", "media")
        try:
            await leg.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception:
            log.warning("unusable SDP answer for leg %s", leg.command.leg_id, exc_info=True)
            await self._end(leg, "failed", "media")

    # --- the peer connection -----------------------------------------------------

    def _peer_connection(self) -> RTCPeerConnection:
        # An explicit list, even empty: left unset, aiortc asks a public STUN server.
        servers = [RTCIceServer(urls=url) for url in self.settings.ice_servers]
        return RTCPeerConnection(RTCConfiguration(iceServers=servers))

    def _watch(self, leg: MediaLeg) -> None:
        @leg.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                leg.reader = asyncio.create_task(self._read(leg, track))

        @leg.pc.on("connectionstatechange")
        async def on_state() -> None:
            state = leg.pc.connectionState
            if state == "connected" and not leg.connected and not leg.ended:
                leg.connected = True
                self._disarm(leg)
                await self._report(leg.command, "in-progress")
            elif state == "failed" and not leg.ended:
                await self._end(leg, "completed" if leg.connected else "failed", "media")

    async def _read(self, leg: MediaLeg, track: MediaStreamTrack) -> None:
        mixer = self.mixers.get(leg.command.conference_id)
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while mixer is not None:
                frame = await track.recv()
                mixer.feed(leg.command.leg_id, to_mono(frame))

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
        if leg.reader is not None:
            leg.reader.cancel()
        await leg.pc.close()
        await self._report(leg.command, status, reason)

    async def _report(self, command: DialLeg, status: LegStatus, reason: str | None = None) -> None:
        await self.publish(
            LegStatusChanged(
                conference_id=command.conference_id,
                leg_id=command.leg_id,
                status=status,
                sequence=next(self._sequence),
                reason=reason,
            )
        )

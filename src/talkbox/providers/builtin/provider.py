"""The built-in provider: signalling for browser legs whose media the engine in `talkbox.media` carries.

It carries out the rules' commands (dial, hang up, mute) and hears the pages'
answers through the bus; what happens to a leg goes back as LegStatusChanged.
A leg outlives its media endpoint: a reloaded page, or a page after a server
restart, gets a fresh one for the same leg (`resume`). A leg whose media is lost
(the page vanished: killed, closed, offline) ends `failed` with reason `lost`
unless a page offers again within the resume grace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from talkbox.events.log_context import ids
from talkbox.events.models import (
    ClientAnsweredLeg,
    ClientLegFailed,
    ClientRejectedLeg,
    ClientResumesLeg,
    Event,
    LegOffered,
    LegStatus,
    LegStatusChanged,
    SpeakingChanged,
    UserReturned,
)
from talkbox.media.engine import Media
from talkbox.media.opus import SAMPLE_RATE
from talkbox.media.tones import greeting
from talkbox.telephony.provider import ResumeLeg, Sequence
from talkbox.telephony.rules import (
    DialLeg,
    HangUpLeg,
    HoldLeg,
    MoveLeg,
    MuteLeg,
    PlayToLeg,
    SendDigits,
    StartRecording,
    StopRecording,
)

log = logging.getLogger(__name__)


@dataclass
class EngineSettings:
    """The signalling's timers; where the media binds is the media factory's business."""

    ring_timeout: float = 30.0
    connect_timeout: float = 15.0
    resume_grace: float = 30.0
    voicemail_max_seconds: float = 120.0


@dataclass
class MediaLeg:
    command: DialLeg
    offer: LegOffered | None = None
    offering: int = 0  # which offer is the latest: an answer to an older one is not used
    answered: bool = False
    connected: bool = False  # reported in-progress; stays so across a new endpoint
    ended: bool = False
    timer: asyncio.TimerHandle | None = None
    # A caller leaving a voicemail is cut off at the longest message (its own timer: media loss re-arms `timer`).
    cap: asyncio.TimerHandle | None = None


@dataclass
class BuiltinProvider:
    publish: Callable[[Event], Awaitable[None]]
    # The media plane, shared with the SIP provider (one conference, one mixer); its reports come
    # to `media_state` and `speaking` (the app wires them).
    media: Media
    # Whether a user has a page open now: this node's sockets, or with several nodes the cluster's. Asked, not
    # counted from presence events, which the router may hand over after a call the page has already made.
    is_online: Callable[[str], Awaitable[bool]]
    settings: EngineSettings = field(default_factory=EngineSettings)
    name: str = "builtin"
    legs: dict[str, MediaLeg] = field(default_factory=dict)
    sequence: Sequence = field(default_factory=Sequence)

    handles = (
        UserReturned,
        ClientAnsweredLeg,
        ClientRejectedLeg,
        ClientLegFailed,
        ClientResumesLeg,
    )

    async def close(self) -> None:
        """Drop all media without ending any leg: the store keeps them live for the next boot."""
        for leg in list(self.legs.values()):
            leg.ended = True
            self._disarm(leg)
        self.legs.clear()
        await self.media.close()

    # --- commands from the rules -----------------------------------------------

    async def dial(self, command: DialLeg) -> None:
        await self._report(command, "initiated")
        if not await self.is_online(command.destination):
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
        self.media.mute(command.conference_id, command.leg_id, command.muted)

    async def start_recording(self, command: StartRecording, path: str) -> None:
        voicemail = command.recording == "voicemail"
        await self.media.start_recording(command.conference_id, path, "greeting" if voicemail else "announcement")
        leg = self.legs.get(command.leg_id)
        if voicemail and leg is not None and leg.cap is None:
            seconds = self.settings.voicemail_max_seconds + len(greeting()) / SAMPLE_RATE
            leg.cap = asyncio.get_running_loop().call_later(seconds, self._cut_off, leg)

    async def resume_recording(self, command: StartRecording, path: str) -> None:
        """The media died with the process: record again, into the same file (the tone says it goes on)."""
        await self.start_recording(command, path)

    def _cut_off(self, leg: MediaLeg) -> None:
        asyncio.ensure_future(self._end(leg, "completed" if leg.connected else "failed", "voicemail-full"))

    async def stop_recording(self, command: StopRecording) -> None:
        await self.media.stop_recording(command.conference_id)

    async def hold(self, command: HoldLeg) -> None:
        self.media.hold(command.conference_id, command.leg_id, command.held, command.music)

    async def play(self, command: PlayToLeg) -> None:
        self.media.play(command.conference_id, command.leg_id, command.sound)

    async def move(self, command: MoveLeg) -> None:
        """Its endpoint into the other conference's mix; the page's connection stays as it is."""
        leg = self.legs.get(command.leg_id)
        if leg is not None:
            leg.command = replace(leg.command, conference_id=command.then.conference_id)
            if leg.offer is not None:
                leg.offer = leg.offer.model_copy(update={"conference_id": command.then.conference_id})
        await self.media.move(command.leg_id, command.then.conference_id)

    async def send_digits(self, command: SendDigits) -> None:
        """Never asked: the rules send digits to telephones only, and this provider carries browsers."""
        log.warning("digits for browser leg %s not sent: a browser has no keypad tones to hear", command.leg_id)

    async def resume(self, command: ResumeLeg) -> None:
        dial = DialLeg(command.conference_id, command.leg_id, command.destination, command.destination, True)
        if command.status != "in-progress":
            await self._report(dial, "failed", "server-restart")
            return
        leg = MediaLeg(dial, answered=True, connected=True)
        self.legs[command.leg_id] = leg
        self.media.mute(command.conference_id, command.leg_id, command.muted)
        if command.held:
            self.media.hold(command.conference_id, command.leg_id, True, command.hold_music)
        self._arm(leg, self.settings.resume_grace, "failed", "lost")

    # --- events from the pages ---------------------------------------------------

    async def handle(self, event: Event) -> None:
        if isinstance(event, UserReturned):
            await self._ring_again(event)
            return
        leg = self.legs.get(event.leg_id)
        if leg is None or leg.ended or leg.command.destination != event.user:
            return  # not this user's leg
        if isinstance(event, ClientResumesLeg):
            if not leg.connected:
                return
            if leg.offer is not None and not leg.answered:
                # An offer is out already (this node's, just after taking the call over): that one again. A
                # second endpoint would leave the page's answer to the first applied to the wrong one.
                await self.publish(leg.offer)
                return
            await self._offer(leg, auto_answer=True)
            self._arm(leg, self.settings.resume_grace, "failed", "lost")
            return
        if leg.answered:
            return  # already taken, by another page of the same user
        if isinstance(event, ClientAnsweredLeg):
            await self._answer(leg, event.sdp, leg.offering)
        elif isinstance(event, ClientRejectedLeg):
            await self._end(leg, "busy", "rejected")
        elif isinstance(event, ClientLegFailed):
            await self._end(leg, "completed" if leg.connected else "failed", event.reason)

    async def _ring_again(self, event: UserReturned) -> None:
        """A page that has just (re)connected rings again for every leg of the conference still unanswered."""
        for leg in list(self.legs.values()):  # a leg dialled while an offer goes out must not break the loop
            command = leg.command
            if command.conference_id != event.conference_id or command.destination != event.user:
                continue
            if leg.offer is not None and not leg.answered:
                await self.publish(leg.offer)

    async def _answer(self, leg: MediaLeg, sdp: str, offering: int) -> None:
        leg.answered = True
        self._arm(leg, self.settings.connect_timeout, "failed", "lost" if leg.connected else "media")
        try:
            await self.media.accept(leg.command.leg_id, sdp)
        except Exception:
            if leg.offering != offering:
                return  # a newer offer replaced the one this answered
            log.warning(
                "unusable SDP answer for leg %s",
                leg.command.leg_id,
                extra=ids(leg.command.conference_id, leg.command.leg_id),
            )
            await self._end(leg, "completed" if leg.connected else "failed", "media")

    # --- the media ------------------------------------------------------------------

    async def _offer(self, leg: MediaLeg, auto_answer: bool) -> bool:
        """A new endpoint for the leg (replacing any old one) and its offer to the user."""
        leg.offering += 1
        offering = leg.offering
        leg.answered = False
        command = leg.command
        sdp = await self.media.offer(command.conference_id, command.leg_id)
        if leg.ended or leg.offering != offering:  # hung up, or replaced, while the offer was made
            return False
        leg.offer = LegOffered(
            user=command.destination,
            conference_id=command.conference_id,
            leg_id=command.leg_id,
            caller=command.caller,
            sdp=sdp,
            auto_answer=auto_answer,
        )
        await self.publish(leg.offer)
        return True

    def media_state(self, leg_id: str, state: str) -> None:
        leg = self.legs.get(leg_id)
        if leg is None or leg.ended:
            return
        if state == "restarted":
            # Its media worker died: offer the leg again on a new one; the page answers by itself.
            asyncio.ensure_future(self._reoffer(leg))
        elif state == "connected":
            self._disarm(leg)
            if not leg.connected:
                leg.connected = True
                asyncio.ensure_future(self._report(leg.command, "in-progress"))
        elif leg.connected:
            # The page may come back (a reload, a network change) and offer again: wait the grace,
            # counted from the first sign of loss.
            if leg.timer is None:
                self._arm(leg, self.settings.resume_grace, "failed", "lost")
        else:
            asyncio.ensure_future(self._end(leg, "failed", "media"))

    async def offer_again(self, only: Callable[[str], bool]) -> None:
        """The answered legs of the conferences `only` picks, just taken over from another node (drained or dead):
        offered at once on this node's engine, so their pages move their media here without waiting to lose it."""
        for leg in list(self.legs.values()):
            if leg.connected and only(leg.command.conference_id):
                await self._reoffer(leg)

    async def _reoffer(self, leg: MediaLeg) -> None:
        """A leg whose worker died gets an offer on a new one: ringing if it still rings, else answered at once.

        A user who has accepted has answered the call, connected or not: their
        page answers the new offer by itself, and is never rung a second time.
        """
        if not leg.connected and not leg.answered:
            await self._offer(leg, leg.command.auto_answer)
            return
        if leg.timer is None:
            self._arm(leg, self.settings.resume_grace, "failed", "lost")
        await self._offer(leg, auto_answer=True)

    def speaking(self, conference_id: str, legs: frozenset[str]) -> None:
        asyncio.ensure_future(self.publish(SpeakingChanged(conference_id=conference_id, legs=tuple(sorted(legs)))))

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
        if leg.cap is not None:
            leg.cap.cancel()
        self.legs.pop(leg.command.leg_id, None)
        await self.media.remove(leg.command.conference_id, leg.command.leg_id)
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

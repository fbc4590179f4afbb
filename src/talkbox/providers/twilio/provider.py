"""Twilio as the provider: the rules' commands become REST calls on the official client.

What happens to a call comes back through Twilio's webhooks (the callbacks
package), which publish LegStatusChanged. This provider listens to those events
too, but only to learn what it needs to address calls later: whether a leg has
been answered (to cancel or complete it) and the conference's ConferenceSid (to
mute a participant). The rules never see a CallSid they did not get in an event.

That memory dies with the process; with several nodes it is kept in Redis too
(`memory.py`), so the node that takes a conference over can address its legs
at once, even one placed a moment before its node died. At boot `resume` takes each live leg back
from the store (which has its CallSid from the reports) and checks it with
Twilio's REST API in the background: what Twilio still has is adopted, what it
has lost is ended (docs/architecture.md, "Twilio as the provider").
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import aiohttp
from aiohttp import ClientError
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from talkbox.events.log_context import about, ids
from talkbox.events.models import (
    TERMINAL_STATUSES,
    ClientLegFailed,
    ClientRejectedLeg,
    ConferenceStatusChanged,
    Event,
    IncomingPhoneCall,
    LegHoldFailed,
    LegMuteChanged,
    LegStatus,
    LegStatusChanged,
    RecordingAvailable,
)
from talkbox.providers.twilio import twiml
from talkbox.providers.twilio.memory import SharedMemory, TwilioLeg
from talkbox.providers.twilio.settings import TwilioSettings
from talkbox.providers.twilio.twiml import CALL_EVENTS, Webhooks, waiting
from talkbox.telephony.provider import ResumeLeg
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

# Reports the provider makes itself (a call Twilio refused to place, a leg it never
# placed) come after anything Twilio could still say about that leg.
OWN_REPORT_SEQUENCE = 1_000_000_000
# What a REST request can fail with: Twilio refused, or Twilio could not be reached.
TWILIO_ERRORS = (TwilioRestException, ClientError, TimeoutError)
# Twilio's own limits on a call's ring timeout.
MIN_TIMEOUT, MAX_TIMEOUT = 5, 600
# At boot: how many legs are checked with Twilio at once, and how long one check may take.
RECONCILE_CONCURRENCY = 4
RECONCILE_TIMEOUT_SECONDS = 5.0
# Twilio's REST API, where its recordings are (a test's stand-in replaces it).
API_URL = "https://api.twilio.com"
# The longest a recording download may take.
DOWNLOAD_TIMEOUT_SECONDS = 60.0


def _no_audio(_data: bytes, _path: Path) -> None:
    raise RuntimeError("no audio store was given to the Twilio provider")


# A live leg only moves forward through these (the rules ignore a report that goes back).
PROGRESS = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}


@dataclass(frozen=True)
class Room:
    """A live Twilio conference found at boot: its ConferenceSid, status and CallSid -> muted of its participants.

    The participants of a conference still in `init` are not listed: Twilio's
    Participants subresource "only manages active participants of in-progress
    Conferences".
    """

    sid: str
    status: str
    participants: dict[str, bool]

    def has(self, call_sid: str) -> bool:
        """Whether the call is in this conference, as far as Twilio can say.

        In `init` nobody is listed, so a call answered into it (a telephone caller
        waiting for a client to answer) counts as in it.
        """
        return call_sid in self.participants or self.status == "init"


@dataclass
class TwilioProvider:
    settings: TwilioSettings
    publish: Callable[[Event], Awaitable[None]]
    # Builds the REST client inside the running loop, on first use.
    make_client: Callable[[], Client]
    ring_timeout: float = 30.0
    voicemail_max_seconds: float = 120.0
    # Where Twilio's recordings are fetched from, and how a fetched WAV becomes our Ogg/Opus file (app wires media's).
    api_url: str = API_URL
    save_audio: Callable[[bytes, Path], None] = _no_audio
    name: str = "twilio"
    legs: dict[str, TwilioLeg] = field(default_factory=dict)
    # The file each recording Twilio makes goes to, until it is fetched (also in `shared`: any node may fetch it).
    recordings: dict[str, Path] = field(default_factory=dict)
    conferences: dict[str, str] = field(default_factory=dict)
    # Conference id -> the recording of the call its own Twilio recording is (also in `shared`).
    tapings: dict[str, str] = field(default_factory=dict)
    shared: SharedMemory | None = None  # several nodes: the same maps in Redis, for every node
    reconcile_concurrency: int = RECONCILE_CONCURRENCY
    reconcile_timeout: float = RECONCILE_TIMEOUT_SECONDS
    _client: Client | None = None
    # Checks of resumed legs still running, and what they share while they run.
    _reconciling: set[asyncio.Task[None]] = field(default_factory=set)
    _slots: asyncio.Semaphore | None = None
    _rooms: dict[str, Room | None] = field(default_factory=dict)
    _room_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _last_sequence: int = 0

    handles = (
        IncomingPhoneCall,
        LegStatusChanged,
        ConferenceStatusChanged,
        ClientRejectedLeg,
        ClientLegFailed,
        RecordingAvailable,
    )

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = self.make_client()
        return self._client

    @property
    def webhooks(self) -> Webhooks:
        return Webhooks(self.settings.public_url)

    async def close(self) -> None:
        """Let go of Twilio without ending any call: they go on at Twilio, and the next boot adopts them."""
        checks = list(self._reconciling)
        for task in checks:
            task.cancel()
        await asyncio.gather(*checks, return_exceptions=True)
        if self._client is not None:
            await self._client.http_client.close()  # type: ignore[attr-defined]
            self._client = None

    # --- commands from the rules -----------------------------------------------

    async def dial(self, command: DialLeg) -> None:
        try:
            call = await self.client.calls.create_async(**self.call_parameters(command))
        except TWILIO_ERRORS as error:
            # Refused (an invalid number, no permission to call that country) or unreachable.
            log.warning("Twilio would not place leg %s: %s", command.leg_id, error)
            await self._report(command.conference_id, command.leg_id, "failed", "unavailable")
            return
        user = command.destination if command.kind == "browser" else None
        await self._keep(command.leg_id, TwilioLeg(command.conference_id, call.sid, user))

    def call_parameters(self, command: DialLeg) -> dict[str, Any]:
        """The arguments of calls.create for one leg."""
        webhooks = self.webhooks
        if command.kind == "browser":
            # Custom parameters the page's Voice SDK reads from call.customParameters.
            parameters = {
                "conference_id": command.conference_id,
                "leg_id": command.leg_id,
                "caller": command.caller,
                "auto_answer": "true" if command.auto_answer else "false",
            }
            to = f"client:{command.destination}?{urlencode(parameters)}"
            caller = f"client:{command.caller}" if command.caller_kind == "browser" else self.settings.caller_id
        else:
            to, caller = command.destination, self.settings.caller_id
        return {
            "to": to,
            "from_": caller,
            "url": webhooks.voice(command.conference_id, command.leg_id),
            "method": "POST",
            "status_callback": webhooks.status(command.conference_id, command.leg_id),
            "status_callback_event": list(CALL_EVENTS),
            "status_callback_method": "POST",
            "timeout": max(MIN_TIMEOUT, min(MAX_TIMEOUT, round(self.ring_timeout))),
        }

    async def hang_up(self, command: HangUpLeg) -> None:
        """Cancel a call not yet answered, complete one that is; report an end Twilio has already reached.

        Twilio fires no status callback for a call canceled "while still in
        `queued` status", so a final status in Twilio's answer is reported here
        rather than awaited (a later callback for the same end changes nothing).
        """
        leg = await self._leg(command.leg_id)
        if leg is None:
            # Never placed, or Twilio has already reported its end: tell the rules it is over.
            await self._report(command.conference_id, command.leg_id, "canceled", command.reason)
            return
        status = "in-progress" if leg.answered else await self._update(leg.call_sid, "canceled")
        # "canceled" does nothing to a call answered meanwhile; then it must be completed.
        if status is None or status == "in-progress":
            status = await self._update(leg.call_sid, "completed")
        if status in TERMINAL_STATUSES:
            await self._forget(command.leg_id)
            final = cast(LegStatus, status)
            await self._report(command.conference_id, command.leg_id, final, command.reason, provider_id=leg.call_sid)

    async def mute(self, command: MuteLeg) -> None:
        """Mute the participant now if Twilio has one, else when it joins or its conference starts.

        A leg not yet answered joins with the stored mute in its TwiML; one
        answered but not yet a participant of an in-progress conference is muted
        when Twilio reports it joined or the conference started.
        """
        leg = await self._leg(command.leg_id)
        if leg is None:
            # Not dialled yet: the TwiML it will join with carries the stored mute.
            log.info("leg %s has no Twilio call yet: it will join with its mute", command.leg_id)
            return
        leg.muted = command.muted
        leg.mute_pending = True
        await self._keep(command.leg_id, leg)
        if leg.answered:
            await self._apply_mute(command.leg_id, leg)

    async def start_recording(self, command: StartRecording, path: str) -> None:
        """A call: the conference's own recording (`record` on its <Conference>, paused since it started) resumes.

        Twilio records a conference once: a second recording of the same call finds that one stopped and
        records the chair's call both ways instead (what the chair hears is the rest of the mix).
        A voicemail: the caller's call leaves the conference for <Record>, which has its own beep and cap.
        Either way Twilio posts the recording's status callback when the file is ready, and it is fetched.
        """
        leg = await self._leg(command.leg_id)
        if leg is None:
            log.warning("recording %s: the chair's leg has no Twilio call", command.recording_id)
            return
        await self._keep_recording(command.recording_id, path)
        if command.recording == "voicemail":
            document = twiml.voicemail(
                self.webhooks, command.conference_id, command.recording_id, self.voicemail_max_seconds
            )
            await self.client.calls(leg.call_sid).update_async(twiml=document)
            return
        if await self._tape_conference(command):
            await self._keep_taping(command.conference_id, command.recording_id)
        else:
            await self.client.calls(leg.call_sid).recordings.create_async(
                recording_status_callback=self.webhooks.recording(command.conference_id, command.recording_id),
                recording_status_callback_event=["completed"],
                recording_status_callback_method="POST",
                recording_channels="mono",
                recording_track="both",
            )
        await self._announce(command.conference_id)

    async def _tape_conference(self, command: StartRecording) -> bool:
        """Resume the conference's recording; False if Twilio has none to resume (it recorded this call already).

        A conference not started yet records from its start: it is simply not paused then.
        """
        found = self.conferences.get(command.conference_id) or await self._find_conference(command.conference_id)
        if found is None:
            return True
        try:
            await self.client.conferences(found).recordings("Twilio.CURRENT").update_async(status="in-progress")
        except TwilioRestException as error:
            log.info("conference %s has no recording to resume (%s): the chair's call is recorded", found, error)
            return False
        return True

    async def _pause_conference_recording(self, conference_id: str, sid: str) -> None:
        """A conference starts recording with its first two participants; nobody asked for it yet, so pause it.

        `skip`: the paused time is left out of the file, not kept as silence.
        """
        try:
            await (
                self.client.conferences(sid)
                .recordings("Twilio.CURRENT")
                .update_async(status="paused", pause_behavior="skip")
            )
        except TWILIO_ERRORS as error:
            log.warning("Twilio did not pause the recording of conference %s: %s", conference_id, error)

    async def _announce(self, conference_id: str) -> None:
        """Everyone on the conference, telephones too, hears that it is now recorded."""
        try:
            found = self.conferences.get(conference_id) or await self._find_conference(conference_id)
            if found is not None:
                await self.client.conferences(found).update_async(
                    announce_url=self.webhooks.announce(), announce_method="POST"
                )
        except TWILIO_ERRORS as error:
            log.info("Twilio did not announce the recording of %s: %s", conference_id, error)

    async def resume_recording(self, command: StartRecording, path: str) -> None:
        """Twilio went on recording while Talkbox was down: only where its file goes is to be known again.

        A call's recording is taken to be its conference's (the first of the call's recordings is).
        """
        await self._keep_recording(command.recording_id, path)
        if command.recording == "call":
            await self._keep_taping(command.conference_id, command.recording_id)

    async def stop_recording(self, command: StopRecording) -> None:
        """A voicemail stops by itself (the caller hangs up, or <Record> reaches its cap)."""
        leg = await self._leg(command.leg_id)
        if command.recording == "voicemail" or leg is None:
            return
        try:
            if await self._taping(command.conference_id) == command.recording_id:
                found = await self._conference_sid(command.conference_id)
                if found is not None:
                    recording = self.client.conferences(found).recordings("Twilio.CURRENT")
                    await recording.update_async(status="stopped")
            else:
                await self.client.calls(leg.call_sid).recordings("Twilio.CURRENT").update_async(status="stopped")
        except TWILIO_ERRORS as error:
            # The call ended meanwhile: Twilio ends its recording with it.
            log.info("Twilio did not stop recording %s: %s", command.recording_id, error)

    async def _fetch_recording(self, event: RecordingAvailable) -> None:
        """The WAV from Twilio (with the account's credentials, so only from Twilio's API), kept as Ogg/Opus.

        A conference's own recording that nobody asked for (paused from its start to its end) is deleted at
        Twilio: it holds the moment before the pause, which nobody agreed to have recorded.
        """
        own = f"{self.api_url.rstrip('/')}/2010-04-01/Accounts/{self.settings.account_sid}/Recordings/"
        if not event.url.startswith(own):
            log.warning("recording %s is not at this account's Twilio: not fetched", event.provider_id)
            return
        recording_id = event.recording_id or await self._taping(event.conference_id)
        if recording_id is None:
            await self._delete_at_twilio(event.provider_id)
            return
        path = await self._recording_path(recording_id)
        if path is None:
            log.warning("recording %s is not one this Talkbox asked for: not fetched", recording_id)
            return
        auth = {"Authorization": aiohttp.encode_basic_auth(self.settings.account_sid, self.settings.auth_token)}
        timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_SECONDS)
        try:
            async with (
                aiohttp.ClientSession(headers=auth, timeout=timeout) as session,
                session.get(f"{event.url}.wav") as response,
            ):
                response.raise_for_status()
                data = await response.read()
            await asyncio.to_thread(self.save_audio, data, path)
        except (ClientError, TimeoutError, ValueError) as error:
            log.warning("could not fetch recording %s from Twilio: %s", recording_id, error)
            return  # still kept: a repeated callback may try again
        await self._forget_recording(recording_id)
        if event.recording_id is None:
            await self._forget_taping(event.conference_id)

    async def _delete_at_twilio(self, recording_sid: str) -> None:
        try:
            await self.client.recordings(recording_sid).delete_async()
        except TWILIO_ERRORS as error:
            log.warning("Twilio did not delete the unasked recording %s: %s", recording_sid, error)

    async def play(self, command: PlayToLeg) -> None:
        """Redirect the call to TwiML that plays the sound, and back to its conference after.

        Twilio plays a single participant nothing of our choosing while it stays in
        a conference, so the call leaves it (new TwiML ends its `<Dial>`), and goes
        back by fetching its voice URL again, whose `<Conference>` is the same room.
        """
        leg = self.legs.get(command.leg_id)
        if leg is None:
            log.warning("leg %s has no Twilio call to play to", command.leg_id)
            return
        if command.sound is None:
            update: dict[str, str] = {
                "url": self.webhooks.voice(command.conference_id, command.leg_id),
                "method": "POST",
            }
        else:
            back = self.webhooks.voice(command.conference_id, command.leg_id)  # after the tone of a return
            update = {"twiml": waiting(self.webhooks, command.sound, back)}
        try:
            await self.client.calls(leg.call_sid).update_async(**update)
        except TWILIO_ERRORS as error:
            # The call has ended meanwhile (its report is on the way), or Twilio is out of reach.
            log.warning("Twilio would not redirect leg %s: %s", command.leg_id, error)

    async def move(self, command: MoveLeg) -> None:
        """Only remembered: the call is redirected by the `PlayToLeg` that follows (out of the first conference to
        ringback, or the tone), and joins the other's `<Conference>` through its voice URL."""
        leg = await self._leg(command.leg_id)
        if leg is not None:
            leg.conference_id = command.then.conference_id
            await self._keep(command.leg_id, leg)

    async def send_digits(self, command: SendDigits) -> None:
        """Not asked in Twilio mode: the page plays its keys into its own call (the Voice SDK's sendDigits)."""
        log.info("digits for leg %s left to the page's Voice SDK", command.leg_id)

    async def _apply_mute(self, leg_id: str, leg: TwilioLeg) -> None:
        """Give Twilio the leg's mute; if Twilio refuses it for good, tell the rules what Twilio has."""
        try:
            found = await self._conference_sid(leg.conference_id)
            if found is None:
                return  # no conference yet: the join or its start will apply it
            await self.client.conferences(found).participants(leg.call_sid).update_async(muted=leg.muted)
        except TwilioRestException as error:
            if error.status == 404:
                log.info(
                    "leg %s is not yet an active participant: its mute waits for the conference",
                    leg_id,
                    extra=ids(leg.conference_id, leg_id),
                )
                return
            await self._mute_refused(leg_id, leg, error)
            return
        except (ClientError, TimeoutError) as error:
            await self._mute_refused(leg_id, leg, error)
            return
        leg.mute_pending = False
        await self._keep(leg_id, leg)

    async def _mute_refused(self, leg_id: str, leg: TwilioLeg, error: Exception) -> None:
        log.warning("Twilio would not set the mute of leg %s: %s", leg_id, error, extra=ids(leg.conference_id, leg_id))
        leg.muted, leg.mute_pending = not leg.muted, False
        await self._keep(leg_id, leg)
        await self.publish(LegMuteChanged(conference_id=leg.conference_id, leg_id=leg_id, muted=leg.muted))

    async def hold(self, command: HoldLeg) -> None:
        """Hold the participant (its holdUrl plays the music, or silence), now or once it is one, like a mute."""
        leg = await self._leg(command.leg_id)
        if leg is None:
            log.info("leg %s has no Twilio call yet: it is held once it joins", command.leg_id)
            return
        # Taken off hold, the music says whose hold it was, should Twilio refuse to take it off.
        leg.held, leg.hold_pending = command.held, True
        leg.hold_music = command.music if command.held else leg.hold_music
        await self._keep(command.leg_id, leg)
        if leg.answered:
            await self._apply_hold(command.leg_id, leg)

    async def _apply_hold(self, leg_id: str, leg: TwilioLeg) -> None:
        held = {"hold_url": self.webhooks.hold(leg.hold_music), "hold_method": "POST"} if leg.held else {}
        try:
            found = await self._conference_sid(leg.conference_id)
            if found is None:
                return  # no conference yet: the join or its start will apply it
            await self.client.conferences(found).participants(leg.call_sid).update_async(hold=leg.held, **held)
        except TwilioRestException as error:
            if error.status == 404:
                log.info("leg %s is not yet an active participant: its hold waits for the conference", leg_id)
                return
            await self._hold_refused(leg_id, leg, error)
            return
        except (ClientError, TimeoutError) as error:
            await self._hold_refused(leg_id, leg, error)
            return
        leg.hold_pending = False
        await self._keep(leg_id, leg)

    async def _hold_refused(self, leg_id: str, leg: TwilioLeg, error: Exception) -> None:
        """Twilio has the hold as it was: the rules are told, so the pages show that and whoever asked hears why."""
        log.warning("Twilio would not set the hold of leg %s: %s", leg_id, error, extra=ids(leg.conference_id, leg_id))
        leg.held, leg.hold_pending = not leg.held, False
        await self._keep(leg_id, leg)
        await self.publish(
            LegHoldFailed(conference_id=leg.conference_id, leg_id=leg_id, held=leg.held, by_chair=leg.hold_music)
        )

    async def _conference_changed(self, event: ConferenceStatusChanged) -> None:
        """Learn the ConferenceSid; apply a mute that had to wait for the participant or the start."""
        if event.status == "conference-end":
            self.conferences.pop(event.conference_id, None)
            if self.shared is not None:
                await self.shared.forget_conference(event.conference_id)
            return
        await self._keep_conference(event.conference_id, event.provider_id)
        leg = await self._leg(event.leg_id) if event.status == "participant-join" and event.leg_id else None
        if leg is not None and event.leg_id is not None:
            if leg.mute_pending and leg.muted != bool(event.muted):
                await self._apply_mute(event.leg_id, leg)  # asked for after its TwiML was served
            else:
                # Joined with the mute its TwiML carried, from the store: the one that holds,
                # even if it was asked for before this leg was dialled (and so never reached us).
                leg.muted, leg.mute_pending = bool(event.muted), False
                await self._keep(event.leg_id, leg)
            if leg.hold_pending:
                await self._apply_hold(event.leg_id, leg)
        elif event.status == "conference-start":
            if await self._taping(event.conference_id) is None:
                await self._pause_conference_recording(event.conference_id, event.provider_id)
            for leg_id, leg in list(self.legs.items()):
                if leg.conference_id == event.conference_id and leg.mute_pending and leg.answered:
                    await self._apply_mute(leg_id, leg)
                if leg.conference_id == event.conference_id and leg.hold_pending and leg.answered:
                    await self._apply_hold(leg_id, leg)

    async def resume(self, command: ResumeLeg) -> None:
        """After a restart: take the leg back as the store has it, then check it with Twilio.

        The check runs in the background, a few at a time and each within a
        timeout, so boot never waits on Twilio. Until it answers (and if it
        cannot be asked) the leg is handled as the store has it.
        """
        if command.provider_id is None and (known := await self._leg(command.leg_id)) is not None:
            # Its node placed the call and died before Twilio's first report: the call is in Redis.
            command = dataclasses.replace(command, provider_id=known.call_sid)
        if command.provider_id is None:
            # No report ever named a Twilio call for it: it was never placed, or the server
            # went down before Twilio said a word about it. Nobody can address it now.
            reason = "lost" if command.status == "in-progress" else "server-restart"
            await self._report(command.conference_id, command.leg_id, "failed", reason, self._restart_sequence())
            return
        user = command.destination if command.kind == "browser" else None
        answered = command.status == "in-progress"
        await self._keep(
            command.leg_id,
            TwilioLeg(
                command.conference_id,
                command.provider_id,
                user,
                answered,
                muted=command.muted,
                held=command.held,
                hold_music=command.hold_music,
            ),
        )
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.reconcile_concurrency)
        task = asyncio.create_task(self._reconcile(command), name=f"reconcile {command.leg_id}")
        self._reconciling.add(task)
        task.add_done_callback(self._checked)

    async def _reconcile(self, command: ResumeLeg) -> None:
        # At boot, not from the router: the lines of this check name the leg themselves.
        with about(command.conference_id, command.leg_id):
            await self._reconcile_leg(command)

    async def _reconcile_leg(self, command: ResumeLeg) -> None:
        assert self._slots is not None
        async with self._slots:
            try:
                async with asyncio.timeout(self.reconcile_timeout):
                    await self._check(command)
            except (TwilioException, ClientError, TimeoutError) as error:
                log.warning(
                    "could not check leg %s (call %s) with Twilio; keeping it as it was: %r",
                    command.leg_id,
                    command.provider_id,
                    error,
                )
            except Exception:
                log.exception("checking leg %s with Twilio failed; keeping it as it was", command.leg_id)

    def _checked(self, task: asyncio.Task[None]) -> None:
        self._reconciling.discard(task)
        if not self._reconciling:
            # What the checks learnt about conferences is only good while they run.
            self._rooms.clear()
            self._room_locks.clear()

    async def _check(self, command: ResumeLeg) -> None:
        """Compare one leg with the call Twilio has, and adopt it or end it."""
        sid = command.provider_id
        assert sid is not None
        try:
            call = await self.client.calls(sid).fetch_async()
        except TwilioRestException as error:
            if error.status != 404:
                raise
            log.info("Twilio no longer knows call %s of leg %s: ending it", sid, command.leg_id)
            await self._end_lost(command, "failed")
            return
        status = cast(LegStatus, _status(call.status))
        if status in TERMINAL_STATUSES:
            log.info("call %s of leg %s ended (%s) while Talkbox was down", sid, command.leg_id, status)
            await self._end_lost(command, status)
            return
        if status not in PROGRESS:
            log.warning("call %s of leg %s is %r at Twilio; keeping it as it was", sid, command.leg_id, status)
            return
        if status == "in-progress":
            room = await self._room(command.conference_id)
            if room is None or not room.has(sid):
                # Answered, yet not in its conference: nobody hears it, and nothing would end it.
                log.info("call %s of leg %s is no longer in conference %s", sid, command.leg_id, command.conference_id)
                await self._update(sid, "completed")
                await self._end_lost(command, "completed")
                return
            leg = self.legs.get(command.leg_id)
            if leg is not None:
                leg.answered = True
                # Not listed (the conference is still `init`): its mute waits for the start.
                leg.mute_pending = sid not in room.participants and command.muted
            if sid in room.participants and room.participants[sid] != command.muted:
                await self.client.conferences(room.sid).participants(sid).update_async(muted=command.muted)
        if PROGRESS[status] > PROGRESS.get(command.status, len(PROGRESS)):
            # Twilio's report of that step was lost while Talkbox was down. The number is
            # the next after the leg's, so Twilio's later reports still come after it.
            sequence = command.sequence + 1
            await self._report(command.conference_id, command.leg_id, status, None, sequence, provider_id=sid)
        log.info("adopted leg %s: call %s is %s at Twilio", command.leg_id, sid, status)

    async def _room(self, conference_id: str) -> Room | None:
        """The live Twilio conference named for `conference_id`, looked up once for all its legs."""
        lock = self._room_locks.setdefault(conference_id, asyncio.Lock())
        async with lock:
            if conference_id not in self._rooms:
                self._rooms[conference_id] = await self._look_up_room(conference_id)
            return self._rooms[conference_id]

    async def _look_up_room(self, conference_id: str) -> Room | None:
        found = await self._live_conference(conference_id)
        if found is None:
            return None
        sid, status = found
        participants = await self.client.conferences(sid).participants.list_async() if status == "in-progress" else []
        return Room(sid, status, {p.call_sid: bool(p.muted) for p in participants})

    async def _live_conference(self, conference_id: str) -> tuple[str, str] | None:
        """The ConferenceSid and status of the live Twilio conference named for `conference_id`.

        Not only `in-progress`: a conference stays in `init` until it starts (a
        telephone caller waits there, with music, for a client to answer).
        """
        for status in ("in-progress", "init"):
            found = await self.client.conferences.list_async(friendly_name=conference_id, status=status, limit=1)
            if found:
                await self._keep_conference(conference_id, found[0].sid)
                return found[0].sid, status
        return None

    async def _end_lost(self, command: ResumeLeg, status: LegStatus) -> None:
        """The leg ended while Talkbox was down, or Twilio has lost it: nobody saw why."""
        await self._report(
            command.conference_id,
            command.leg_id,
            status,
            "lost",
            self._restart_sequence(),
            provider_id=command.provider_id,
        )

    def _restart_sequence(self) -> int:
        """After anything the leg saw before the restart: microseconds of wall time, made unique."""
        self._last_sequence = max(self._last_sequence + 1, time.time_ns() // 1000)
        return self._last_sequence

    # --- what Twilio reported, through the callbacks ----------------------------

    async def handle(self, event: Event) -> None:
        if isinstance(event, IncomingPhoneCall):
            await self._keep(event.leg_id, TwilioLeg(event.conference_id, event.provider_id, answered=True))
        elif isinstance(event, (ClientRejectedLeg, ClientLegFailed)):
            await self._refused(event)
        elif isinstance(event, LegStatusChanged):
            leg = await self._leg(event.leg_id)
            if leg is None:
                return
            if event.status in TERMINAL_STATUSES:
                await self._forget(event.leg_id)
            elif event.status == "in-progress" and not leg.answered:
                leg.answered = True
                await self._keep(event.leg_id, leg)
        elif isinstance(event, ConferenceStatusChanged):
            await self._conference_changed(event)
        elif isinstance(event, RecordingAvailable):
            await self._fetch_recording(event)

    async def _refused(self, event: ClientRejectedLeg | ClientLegFailed) -> None:
        """A page declined a leg over the websocket (as with the built-in engine), not through the SDK.

        Twilio would only ever call that "canceled", so the provider reports
        what the page said itself; Twilio's own report, coming later, is ignored.
        """
        leg = await self._leg(event.leg_id)
        if leg is None or leg.user != event.user or leg.answered:
            return
        if await self._update(leg.call_sid, "canceled") == "in-progress":
            return  # another page of the same user took it meanwhile
        if isinstance(event, ClientRejectedLeg):
            await self._report(leg.conference_id, event.leg_id, "busy", "rejected")
        else:
            await self._report(leg.conference_id, event.leg_id, "failed", event.reason)

    # --- helpers -----------------------------------------------------------------

    async def _leg(self, leg_id: str) -> TwilioLeg | None:
        """What this node knows of the leg; else what another node kept in Redis (then known here too)."""
        leg = self.legs.get(leg_id)
        if leg is None and self.shared is not None and (leg := await self.shared.leg(leg_id)) is not None:
            self.legs[leg_id] = leg
        return leg

    async def _keep(self, leg_id: str, leg: TwilioLeg) -> None:
        self.legs[leg_id] = leg
        if self.shared is not None:
            await self.shared.keep_leg(leg_id, leg)

    async def _forget(self, leg_id: str) -> None:
        self.legs.pop(leg_id, None)
        if self.shared is not None:
            await self.shared.forget_leg(leg_id)

    async def _keep_recording(self, recording_id: str, path: str) -> None:
        self.recordings[recording_id] = Path(path)
        if self.shared is not None:
            await self.shared.keep_recording(recording_id, path)

    async def _recording_path(self, recording_id: str) -> Path | None:
        """Where a recording goes, known here or kept by the node that started it (its callback may reach any)."""
        path = self.recordings.get(recording_id)
        if path is None and self.shared is not None and (kept := await self.shared.recording(recording_id)):
            path = self.recordings[recording_id] = Path(kept)
        return path

    async def _forget_recording(self, recording_id: str) -> None:
        self.recordings.pop(recording_id, None)
        if self.shared is not None:
            await self.shared.forget_recording(recording_id)

    async def _keep_taping(self, conference_id: str, recording_id: str) -> None:
        self.tapings[conference_id] = recording_id
        if self.shared is not None:
            await self.shared.keep_taping(conference_id, recording_id)

    async def _taping(self, conference_id: str) -> str | None:
        """Which recording of the call the conference's own Twilio recording is, if the chair has started one."""
        recording_id = self.tapings.get(conference_id)
        if recording_id is None and self.shared is not None and (kept := await self.shared.taping(conference_id)):
            recording_id = self.tapings[conference_id] = kept
        return recording_id

    async def _forget_taping(self, conference_id: str) -> None:
        self.tapings.pop(conference_id, None)
        if self.shared is not None:
            await self.shared.forget_taping(conference_id)

    async def _keep_conference(self, conference_id: str, sid: str) -> None:
        if self.conferences.get(conference_id) == sid:
            return
        self.conferences[conference_id] = sid
        if self.shared is not None:
            await self.shared.keep_conference(conference_id, sid)

    async def _conference_sid(self, conference_id: str) -> str | None:
        """Known here, kept by another node, or (its callback has not reached anyone yet) looked up by name."""
        sid = self.conferences.get(conference_id)
        if sid is None and self.shared is not None and (sid := await self.shared.conference(conference_id)):
            self.conferences[conference_id] = sid
        return sid or await self._find_conference(conference_id)

    async def _update(self, call_sid: str, status: str) -> str | None:
        """Ask Twilio to end a call; the call's status afterwards, or None if Twilio refused."""
        try:
            call = await self.client.calls(call_sid).update_async(status=status)
        except TWILIO_ERRORS as error:
            log.info("Twilio did not set call %s %s: %s", call_sid, status, error)
            return None
        return _status(call.status)

    async def _find_conference(self, conference_id: str) -> str | None:
        """The ConferenceSid, when its callback has not reached us yet: look it up by name."""
        found = await self._live_conference(conference_id)
        return None if found is None else found[0]

    async def _report(
        self,
        conference_id: str,
        leg_id: str,
        status: LegStatus,
        reason: str | None,
        sequence: int = OWN_REPORT_SEQUENCE,
        *,
        provider_id: str | None = None,
    ) -> None:
        await self.publish(
            LegStatusChanged(
                conference_id=conference_id,
                leg_id=leg_id,
                status=status,
                sequence=sequence,
                reason=reason,
                provider_id=provider_id,
            )
        )


def _status(status: object) -> str:
    """A call's status as Twilio's REST client returns it (an enum member or a string)."""
    return str(getattr(status, "value", status))

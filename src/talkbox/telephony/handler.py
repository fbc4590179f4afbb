"""The shell around the rules: load, decide, store, then act."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from talkbox.events.log_context import about, ids
from talkbox.events.models import (
    CallRefused,
    ChangeNotSaved,
    ConferenceUpdated,
    Event,
    IncomingPhoneCall,
    LegHoldChanged,
    LegHoldFailed,
    LegKind,
    LegMuteChanged,
    LegStatusChanged,
    PhoneKind,
    PresenceChanged,
    RecordingsChanged,
    StateSent,
    UnsavedChangesDue,
    UserAddsParticipant,
    UserCompletesTransfer,
    UserHangsUp,
    UserHoldsLeg,
    UserMutesLeg,
    UserRecords,
    UserRejoins,
    UserRemovesParticipant,
    UserRequestsCall,
    UserReturned,
    UserSendsDigits,
    UserTransfers,
    family_id,
)
from talkbox.events.names import is_client_name
from talkbox.telephony.model import Conference
from talkbox.telephony.provider import Provider, ResumeLeg
from talkbox.telephony.recordings import Recording, file_name
from talkbox.telephony.rules import (
    AddParticipant,
    Command,
    CompleteTransfer,
    DialLeg,
    HangUp,
    HangUpLeg,
    Hold,
    HoldLeg,
    IncomingCall,
    MoveLeg,
    Mute,
    MuteLeg,
    PlayToLeg,
    PressDigits,
    Publish,
    Record,
    Rejoin,
    RemoveParticipant,
    RuleInput,
    SendDigits,
    StartCall,
    StartRecording,
    StopRecording,
    TransferCall,
    decide,
    holds_elsewhere,
    started_talking,
)
from talkbox.telephony.store import ConferenceStore, StoreUnavailable
from talkbox.telephony.unsaved import Backlog, Unsaved

log = logging.getLogger(__name__)

# The user requests whose change can wait for the store, as the page names them and in words.
_REQUESTS: dict[type[Event], tuple[str, str]] = {
    UserHangsUp: ("hang_up", "hang up"),
    UserAddsParticipant: ("add", "add them"),
    UserRemovesParticipant: ("remove", "remove them"),
    UserMutesLeg: ("mute", "change the mute"),
    UserHoldsLeg: ("hold", "change the hold"),
    UserCompletesTransfer: ("complete_transfer", "complete the transfer"),
    UserRejoins: ("rejoin", "rejoin"),
    UserRecords: ("record", "change the recording"),
    UserTransfers: ("transfer", "transfer the call"),
}


def log_changes(before: Conference | None, after: Conference) -> None:
    """A call's life in the log, once stored: each leg's new status, and the conference's start and end.

    Kinds and ids only: who was called (a name, a telephone number) stays out of the log.
    """
    if before is None:
        log.info("conference %s started", after.id, extra=ids(after.id))
    was = {leg.id: leg.status for leg in before.legs} if before is not None else {}
    for leg in after.legs:
        if was.get(leg.id) != leg.status:
            why = f" ({leg.end_reason})" if leg.end_reason else ""
            log.info("%s leg %s is %s%s", leg.kind, leg.id, leg.status, why, extra=ids(after.id, leg.id))
    if after.ended and (before is None or not before.ended):
        log.info("conference %s ended (%s)", after.id, after.end_reason, extra=ids(after.id))


def derived_id(prefix: str, *parts: str) -> str:
    """An id that follows from the event's own ids, never from the moment it is handled.

    So an event handled again (redelivered by the bus) names the same legs, and changes nothing.
    """
    return f"{prefix}-{hashlib.sha256('/'.join(parts).encode()).hexdigest()[:16]}"


@dataclass
class CallHandler:
    store: ConferenceStore
    # Who carries each kind of leg: the built-in engine browsers and SIP telephones, or Twilio both.
    providers: Mapping[LegKind, Provider]
    publish: Callable[[Event], Awaitable[None]]
    max_legs: int = 10
    # Calls one user may be on at once (the others on hold); a call to someone on this many is busy.
    max_calls: int = 3
    # The ring group: the clients a call from a telephone rings (TALKBOX_SIP_RING or TALKBOX_TWILIO_RING).
    ring: tuple[str, ...] = ()
    unsaved: Backlog = field(default_factory=Backlog)
    # Where recordings are written (TALKBOX_RECORDINGS): the provider is handed a file there, named by its id.
    recordings: Path = Path("var/recordings")
    # Whether the providers here can take a voicemail (a missed call then becomes one for users who have it on).
    voicemail: bool = False
    _retries: dict[str, asyncio.Task[None]] = field(default_factory=dict, init=False, repr=False)

    handles = (
        UserRequestsCall,
        IncomingPhoneCall,
        UserHangsUp,
        UserAddsParticipant,
        UserRemovesParticipant,
        UserMutesLeg,
        UserHoldsLeg,
        UserCompletesTransfer,
        UserRejoins,
        UserRecords,
        UserTransfers,
        UserSendsDigits,
        LegStatusChanged,
        LegMuteChanged,
        LegHoldChanged,
        LegHoldFailed,
        PresenceChanged,
        UnsavedChangesDue,
    )

    @property
    def telephones(self) -> PhoneKind | None:
        """How numbers are dialled here, if at all."""
        return "sip" if "sip" in self.providers else "twilio" if "twilio" in self.providers else None

    async def recover(self, only: Callable[[str], bool] | None = None) -> None:
        """At boot: hand every live leg the store knows back to its provider.

        `only` picks the conferences by id: with several nodes, those of a bus partition this node just took.
        """
        for conference in await self.store.active():
            if only is not None and not only(conference.id):
                continue
            for leg in conference.live_legs():
                provider = self.providers.get(leg.kind)
                if provider is None:  # a SIP leg after SIP was switched off
                    await self._report_failed(conference.id, leg.id, "server-restart")
                    continue
                await provider.resume(
                    ResumeLeg(
                        conference.id,
                        leg.id,
                        leg.destination,
                        leg.status,
                        leg.muted,
                        leg.provider_id,
                        leg.sequence,
                        leg.kind,
                        leg.held,
                        leg.held_by_chair,
                    )
                )
            await self._record_again(conference)
            await self._resume_waiting(conference)

    async def _record_again(self, conference: Conference) -> None:
        """A recording that was running goes on in the same file (a chained Ogg stream after what was kept)."""
        taping, chair = conference.taping, conference.chair
        if taping is None or chair.ended or chair.kind not in self.providers:
            return
        again = StartRecording(
            conference.id, taping.id, taping.kind, taping.owners, chair.destination, chair.id, chair.kind
        )
        try:
            await self.providers[chair.kind].resume_recording(again, str(self._file_of(taping.id)))
        except Exception:
            log.exception("could not go on recording %s after the restart", taping.id)

    async def _resume_waiting(self, conference: Conference) -> None:
        """A party waiting on a transfer heard ringback from media that died with the process: again."""
        transfer = conference.transfer
        if transfer is None:
            return
        waiting = conference.leg(transfer.leg_id)
        if waiting.ended or waiting.kind not in self.providers:
            return  # its end is on the way (or its provider is off, and it is ended as failed)
        # Ringback, even while recalling: the failed tone has been heard already.
        await self._carry_out_all((PlayToLeg(conference.id, waiting.id, "ringback", waiting.kind),))

    async def stop(self) -> None:
        """At shutdown: one last offer of what is unsaved to the store; what it still refuses is lost."""
        for task in self._retries.values():
            task.cancel()
        self._retries.clear()
        for conference_id in self.unsaved.conferences():
            await self._save_unsaved(conference_id)
        for task in self._retries.values():
            task.cancel()
        if self.unsaved:
            log.error("stopping with %d changes the store would not take: they are lost", len(self.unsaved))

    async def handle(self, event: Event) -> None:
        if isinstance(event, PresenceChanged):
            if event.online:
                await self._send_state(event.user)
            return
        if isinstance(event, UnsavedChangesDue):
            await self._save_unsaved(event.conference_id)
            return
        if isinstance(event, UserRequestsCall):
            await self._request_call(event)
            return
        given = await self._rule_input(event)
        if given is not None:
            await self._apply(event.conference_id, given, event)  # type: ignore[union-attr]

    async def _rule_input(self, event: Event) -> RuleInput | None:
        if isinstance(event, UserHangsUp):
            return HangUp(event.user)
        if isinstance(event, UserAddsParticipant):
            return AddParticipant(
                event.user, event.to, event.leg_id, self.max_legs, self.telephones, await self._dnd(event.to)
            )
        if isinstance(event, UserRemovesParticipant):
            return RemoveParticipant(event.user, event.leg_id)
        if isinstance(event, UserMutesLeg):
            return Mute(event.user, event.leg_id, event.muted)
        if isinstance(event, UserHoldsLeg):
            return Hold(event.user, event.leg_id, event.held)
        if isinstance(event, UserCompletesTransfer):
            return CompleteTransfer(event.user, event.leg_id)
        if isinstance(event, UserRejoins):
            return Rejoin(event.user, event.leg_id)
        if isinstance(event, UserRecords):
            return Record(event.user, event.on, event.recording_id)
        if isinstance(event, UserTransfers):
            recall = derived_id("l", event.conference_id, "recall", event.leg_id)
            # A party's new call is named from the request's own ids: delivered again, it names the same one.
            own = derived_id("t", event.conference_id, event.leg_id)
            new_call = family_id(event.conference_id, own) if event.party else None
            return TransferCall(event.user, event.to, event.leg_id, recall, self.telephones, event.party, new_call)
        if isinstance(event, UserSendsDigits):
            return PressDigits(event.user, event.digits)
        if isinstance(event, (LegStatusChanged, LegMuteChanged, LegHoldChanged, LegHoldFailed)):
            return event
        if isinstance(event, IncomingPhoneCall):
            names = (event.to,) if event.to else self.ring
            ring = tuple((derived_id("l", event.conference_id, "ring", name), name) for name in names)
            dnd = frozenset([name for name in names if await self._dnd(name)])
            return IncomingCall(
                event.conference_id, event.leg_id, event.caller, event.provider_id, ring, event.kind, dnd
            )
        return None

    async def _request_call(self, event: UserRequestsCall) -> None:
        created = await self._apply(event.conference_id, await self._start_call(event), event)
        if created is not None and event.also:
            # Only when this request made the call (delivered again, it changes nothing). Published, not
            # applied here: the conference's own events are handled in its order.
            for to in event.also:
                leg_id = derived_id("l", event.conference_id, "also", to)
                await self.publish(
                    UserAddsParticipant(user=event.user, conference_id=event.conference_id, to=to, leg_id=leg_id)
                )

    async def _start_call(self, event: UserRequestsCall) -> StartCall:
        elsewhere = [c for c in await self.store.active_for(event.user) if c.id != event.conference_id]
        return StartCall(
            conference_id=event.conference_id,
            chair_leg_id=derived_id("l", event.conference_id, "chair"),
            callee_leg_id=derived_id("l", event.conference_id, "callee"),
            caller=event.user,
            to=event.to,
            caller_calls=len(elsewhere),
            max_calls=self.max_calls,
            callee_dnd=await self._dnd(event.to),
            telephones=self.telephones,
            voicemail_id=await self._voicemail_for(event),
        )

    async def _voicemail_for(self, event: UserRequestsCall) -> str | None:
        """The id of the voicemail the call would become: only users have voicemail, and only when it is on."""
        if not self.voicemail or not is_client_name(event.to) or event.to == event.user:
            return None
        if not await self.store.voicemail_on(event.to):
            return None
        return derived_id("v", event.conference_id, "voicemail")

    async def _dnd(self, user: str) -> bool:
        person = await self.store.person(user)
        return person is not None and person.dnd

    async def _apply(self, conference_id: str | None, given: RuleInput, event: Event | None) -> Conference | None:
        """Decide, store, act. Returns the conference as the input changed it; None when it changed nothing."""
        if conference_id in self.unsaved:
            await self._save_unsaved(conference_id)  # the store may be back: the older changes go first
        if conference_id in self.unsaved:
            before: Conference | None = self.unsaved.latest(conference_id)
        else:
            before = await self.store.get(conference_id) if conference_id else None
        decision = decide(before, given)
        changed = decision.conference
        if changed is None or changed == before:
            await self._carry_out_all(decision.commands)
            return None
        if changed.id not in self.unsaved:
            try:
                # Stored before acting, so a crash never leaves a leg the store does not know.
                await self.store.put(changed, describe(given))
            except StoreUnavailable as error:
                log.warning("%s: holding the change until the store takes it", error)
            else:
                log_changes(before, changed)
                await self._carry_out_all(decision.commands)
                await self._hold_other_calls(before, changed)
                return changed
        await self._hold(changed, given, decision.commands, event)
        return changed

    async def _hold_other_calls(self, before: Conference | None, changed: Conference) -> None:
        """Whoever starts talking on this call puts their other calls on hold (call waiting, a second call).

        Published, not applied here: each conference's events are handled in its own order.
        """
        for user in started_talking(before, changed):
            for conference_id, hold in holds_elsewhere(user, changed.id, await self.store.active_for(user)):
                await self.publish(
                    UserHoldsLeg(user=user, conference_id=conference_id, leg_id=hold.leg_id, held=hold.held)
                )

    async def _hold(
        self, changed: Conference, given: RuleInput, commands: tuple[Command, ...], event: Event | None
    ) -> None:
        """A change the store did not take (a full disk): what is safe now, the rest once it is stored.

        The order is what makes it safe:
        1. Hang-ups are carried out at once. A user who ended a call must not stay
           on the air, and ending media the store still thinks live is safe: after a
           crash, boot hands that leg to the provider, which finds no media and ends
           it (`lost`). Nothing else runs yet: a dial the store does not know would
           outlive a crash, and an update would show the pages a state not kept.
        2. The change is queued, and later changes to the conference are decided
           against it and queued behind it, so the store gets them in order.
        3. The user who asked is told (`retrying` on the page).
        4. A retry is due: when the store takes the change, its held commands run
           (a dial only if its leg is still live by then).
        A new call is refused instead: nothing existed, so nothing is lost by saying no.
        """
        if isinstance(given, StartCall):
            message = "Could not place the call: Talkbox could not save it. Try again shortly."
            await self.publish(CallRefused(user=given.caller, code="store_unavailable", message=message))
            return
        self.unsaved.add(Unsaved(changed, describe(given), tuple(c for c in commands if not _ends_media(c))))
        await self._carry_out_all(tuple(c for c in commands if _ends_media(c)))
        request = _REQUESTS.get(type(event))
        if request is not None:
            name, words = request
            message = f"Could not {words} yet: Talkbox could not save it. Retrying…"
            await self.publish(
                ChangeNotSaved(user=event.user, conference_id=changed.id, request=name, message=message)  # type: ignore[union-attr]
            )
        self._retry_later(changed.id)

    async def _save_unsaved(self, conference_id: str) -> None:
        """Offer the conference's unsaved changes to the store, oldest first, until it refuses one."""
        if conference_id not in self.unsaved:
            return
        latest = self.unsaved.latest(conference_id)
        while (change := self.unsaved.first(conference_id)) is not None:
            try:
                await self.store.put(change.conference, change.cause)
            except StoreUnavailable as error:
                log.debug("still unsaved: %s", error)
                self._retry_later(conference_id)
                return
            self.unsaved.saved(conference_id)
            await self._carry_out_all(tuple(c for c in change.held if _still_due(c, latest)))
        log.info("the store took the held changes of %s", conference_id, extra=ids(conference_id))

    def _retry_later(self, conference_id: str) -> None:
        """Through the bus, so the retry runs on the conference's worker, in order with its events."""
        if conference_id in self._retries:
            return
        delay = self.unsaved.next_delay(conference_id)
        self._retries[conference_id] = asyncio.create_task(self._retry_after(conference_id, delay))

    async def _retry_after(self, conference_id: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            self._retries.pop(conference_id, None)
        await self.publish(UnsavedChangesDue(conference_id=conference_id))

    async def _carry_out_all(self, commands: tuple[Command, ...]) -> None:
        for command in commands:
            # Each command on its own: the state is stored, so a retry of this event would
            # decide nothing new, and a command that raised would never be carried out.
            try:
                fields = vars(command)
                with about(fields.get("conference_id"), fields.get("leg_id")):
                    await self._carry_out(command)
            except Exception:
                log.exception("could not carry out %s", command, extra=ids(vars(command).get("conference_id")))
                if isinstance(command, DialLeg):
                    await self._report_failed(command.conference_id, command.leg_id, "provider-error")

    async def _carry_out(self, command: Command) -> None:
        if isinstance(command, Publish):
            await self.publish(command.event)
        elif isinstance(command, DialLeg):
            await self._dial(command)
        elif isinstance(command, HangUpLeg):
            await self.providers[command.kind].hang_up(command)
        elif isinstance(command, MuteLeg):
            await self.providers[command.kind].mute(command)
        elif isinstance(command, StartRecording):
            await self._start_recording(command)
        elif isinstance(command, StopRecording):
            await self._stop_recording(command)
        elif isinstance(command, HoldLeg):
            await self.providers[command.kind].hold(command)
        elif isinstance(command, PlayToLeg):
            await self.providers[command.kind].play(command)
        elif isinstance(command, SendDigits):
            await self.providers[command.kind].send_digits(command)
        elif isinstance(command, MoveLeg):
            await self._move(command)

    async def _move(self, command: MoveLeg) -> None:
        """The leg's media first, then the conference it moves to: by the time that one plays it ringback or
        rings its target, the leg is in its mix. Applied here rather than published, since the provider acted
        on it already: in the bus's partition of the first conference, and on its node, where the media is."""
        await self.providers[command.kind].move(command)
        await self._apply(command.then.conference_id, command.then, None)

    async def _start_recording(self, command: StartRecording) -> None:
        """Indexed before the provider starts, so a file on disk is never one the store has not heard of."""
        if await self.store.recording(command.recording_id) is None:
            recording = Recording(
                command.recording_id,
                command.recording,
                command.conference_id,
                command.owners,
                command.caller,
                started_at=time.time(),
            )
            await self.store.put_recording(recording)
        await self.providers[command.kind].start_recording(command, str(self._file_of(command.recording_id)))

    def _file_of(self, recording_id: str) -> Path:
        return self.recordings.resolve() / file_name(recording_id)

    async def _stop_recording(self, command: StopRecording) -> None:
        await self.providers[command.kind].stop_recording(command)
        recording = await self.store.recording(command.recording_id)
        if recording is None or recording.ended_at is not None:
            return  # deleted meanwhile, or this stop delivered again
        await self.store.put_recording(replace(recording, owners=command.owners, ended_at=time.time()))
        caller = command.caller if command.recording == "voicemail" else None
        await self.publish(
            RecordingsChanged(
                conference_id=command.conference_id, users=command.owners, kind=command.recording, caller=caller
            )
        )

    async def _report_failed(self, conference_id: str, leg_id: str, reason: str) -> None:
        """A leg no provider can place (or take back) must not wait in the conference for ever."""
        await self.publish(
            LegStatusChanged(
                conference_id=conference_id,
                leg_id=leg_id,
                status="failed",
                sequence=time.time_ns() // 1000,
                reason=reason,
            )
        )

    async def _send_state(self, user: str) -> None:
        """A page that (re)connects gets every conference its user is on, or may rejoin, then their list."""
        sent: list[str] = []
        for conference in await self.store.active():
            if user in conference.members():
                await self.publish(ConferenceUpdated(conference=conference.view(), users=(user,)))
                await self.publish(UserReturned(user=user, conference_id=conference.id))
                sent.append(conference.id)
        await self.publish(StateSent(user=user, conference_ids=tuple(sent)))

    async def _dial(self, command: DialLeg) -> None:
        """Someone on as many calls as they may be is busy; on fewer, this one rings as a call waiting."""
        if not command.auto_answer and command.kind == "browser":
            elsewhere = [c for c in await self.store.active_for(command.destination) if c.id != command.conference_id]
            if len(elsewhere) >= self.max_calls:
                await self.publish(
                    LegStatusChanged(
                        conference_id=command.conference_id,
                        leg_id=command.leg_id,
                        status="busy",
                        sequence=1,
                        reason="in-another-call",
                    )
                )
                return
        await self.providers[command.kind].dial(command)


def _ends_media(command: Command) -> bool:
    return isinstance(command, HangUpLeg | StopRecording)


def _still_due(command: Command, latest: Conference) -> bool:
    """A held dial whose leg later changes ended meanwhile is not placed after all."""
    if not isinstance(command, DialLeg):
        return True
    return latest.has_leg(command.leg_id) and not latest.leg(command.leg_id).ended


def describe(given: RuleInput) -> dict[str, Any]:
    """A rule input as plain data for the event log."""
    if dataclasses.is_dataclass(given):
        return {"input": type(given).__name__, **vars(given)}  # the store's dumps() writes what is nested in it
    return given.model_dump(mode="json")

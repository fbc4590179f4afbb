"""Replay a log of rule inputs and compare what comes out, step by step.

Outputs are written compactly so a log reads like the original's event logs:
  ("updated", "active", {"alice": "in-progress", "bob": "ringing"})
  ("dial", "bob")            ("hang_up", "alice", "ended")
  ("refused", "self_call")
A transfer out of a larger call spans two conferences (`replay_calls`):
  ("move", "bob", "c-2")     ("hand_on", "bob", "completed", "c-2")
"""

from __future__ import annotations

from typing import Any

from talkbox.events.models import (
    CallNotDisturbed,
    CallRefused,
    ConferenceUpdated,
    DigitPressed,
    LegHoldChanged,
    LegHoldFailed,
    LegMuteChanged,
    LegStatusChanged,
    PhoneKind,
)
from talkbox.telephony.model import Conference
from talkbox.telephony.rules import (
    AddParticipant,
    Command,
    CompleteTransfer,
    DialLeg,
    HangUp,
    HangUpLeg,
    Hold,
    HoldLeg,
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
)

CONFERENCE = "c-1"
NEW_CALL = "c-2"  # the call a party transferred out of CONFERENCE goes on in
LEG_OF = {
    "alice": "l-alice",
    "bob": "l-callee",
    "carol": "l-carol",
    "dave": "l-dave",
    "alice again": "l-alice-2",
    "bob again": "l-bob-2",
}


def call(
    caller: str = "alice",
    to: str = "bob",
    *,
    caller_calls: int = 0,
    telephones: PhoneKind | None = None,
    voicemail: bool = False,
    dnd: bool = False,
) -> StartCall:
    voicemail_id = "v-1" if voicemail else None
    return StartCall(
        CONFERENCE,
        LEG_OF[caller],
        "l-callee",
        caller,
        to,
        caller_calls,
        telephones=telephones,
        voicemail_id=voicemail_id,
        callee_dnd=dnd,
    )


def record(on: bool = True, by: str = "alice", recording_id: str = "r-1") -> Record:
    return Record(by, on, recording_id)


class Reports:
    """Provider reports with increasing sequence numbers, as a provider sends them."""

    def __init__(self) -> None:
        self.sequence = 0

    def __call__(
        self,
        who: str,
        status: str,
        reason: str | None = None,
        *,
        sequence: int | None = None,
        conference: str = CONFERENCE,
    ) -> LegStatusChanged:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        leg_id = LEG_OF[who]
        return LegStatusChanged(
            conference_id=conference, leg_id=leg_id, status=status, sequence=sequence, reason=reason
        )  # type: ignore[arg-type]


def hang_up(user: str) -> HangUp:
    return HangUp(user)


def add(to: str, by: str = "alice", limit: int = 10) -> AddParticipant:
    return AddParticipant(by, to, LEG_OF.get(to, "l-other"), limit)


def remove(who: str, by: str = "alice") -> RemoveParticipant:
    return RemoveParticipant(by, LEG_OF[who])


def mute(who: str, by: str, muted: bool = True) -> Mute:
    return Mute(by, LEG_OF[who], muted)


def mute_reported(who: str, muted: bool) -> LegMuteChanged:
    """The provider's word that it could not apply a mute."""
    return LegMuteChanged(conference_id=CONFERENCE, leg_id=LEG_OF[who], muted=muted)


def hold(who: str, by: str, held: bool = True) -> Hold:
    return Hold(by, LEG_OF[who], held)


def hold_reported(who: str, held: bool) -> LegHoldChanged:
    """A telephone's own re-INVITE hold, as the provider reports it."""
    return LegHoldChanged(conference_id=CONFERENCE, leg_id=LEG_OF[who], held=held)


def hold_failed(who: str, held: bool, by_chair: bool = False) -> LegHoldFailed:
    """The provider could not apply the hold asked for: `held` is what the leg has."""
    return LegHoldFailed(conference_id=CONFERENCE, leg_id=LEG_OF[who], held=held, by_chair=by_chair)


def complete_transfer(who: str, by: str) -> CompleteTransfer:
    return CompleteTransfer(by, LEG_OF[who])


def rejoin(user: str = "alice") -> Rejoin:
    return Rejoin(user, LEG_OF["alice again"])


def transfer(
    to: str = "carol",
    by: str = "alice",
    telephones: PhoneKind | None = None,
    *,
    party: str | None = None,
    new_call: str | None = NEW_CALL,
) -> TransferCall:
    """`by` transfers the other party to `to` (carol's and dave's legs as in LEG_OF); `by` is recalled on "<by> again".

    With `party`, out of a larger call: that party leaves for a new call (`new_call`) with `to`.
    """
    leg_id = LEG_OF[to] if to in ("carol", "dave") else "l-other"
    recall = LEG_OF.get(f"{by} again", f"l-{by}-2")
    if party is None:
        return TransferCall(by, to, leg_id, recall, telephones)
    return TransferCall(by, to, leg_id, recall, telephones, LEG_OF[party], new_call)


def press(digits: str, by: str = "alice") -> PressDigits:
    return PressDigits(by, digits)


def summarise(command: Command, conference: Conference | None) -> tuple[Any, ...]:
    def who(leg_id: str) -> str:
        assert conference is not None
        return conference.leg(leg_id).destination

    if isinstance(command, DialLeg):
        return ("dial", command.destination)
    if isinstance(command, HangUpLeg):
        return ("hang_up", who(command.leg_id), command.reason)
    if isinstance(command, MuteLeg):
        return ("mute" if command.muted else "unmute", who(command.leg_id))
    if isinstance(command, StartRecording):
        return ("record", command.recording, command.recording_id, command.owners)
    if isinstance(command, StopRecording):
        return ("stop_recording", command.recording, command.recording_id, command.owners)
    if isinstance(command, HoldLeg):
        heard = ("music" if command.music else "silence",) if command.held else ()
        return ("hold" if command.held else "resume", who(command.leg_id), *heard)
    if isinstance(command, PlayToLeg):
        return ("play", who(command.leg_id), command.sound or "the call")
    if isinstance(command, SendDigits):
        return ("digits", who(command.leg_id), command.digits)
    if isinstance(command, MoveLeg):
        return ("move", who(command.leg_id), command.then.conference_id)
    assert isinstance(command, Publish)
    event = command.event
    if isinstance(event, LegStatusChanged):
        return ("hand_on", who(event.leg_id), event.status, event.conference_id)
    if isinstance(event, CallRefused):
        return ("refused", event.code)
    if isinstance(event, CallNotDisturbed):
        return ("not_disturbed", event.caller, event.callee)
    if isinstance(event, DigitPressed):
        return ("shown", who(event.leg_id), event.digit)
    assert isinstance(event, ConferenceUpdated)
    view = event.conference
    legs: dict[str, str] = {}
    for leg in view.legs:
        name = leg.destination if leg.destination not in legs else f"{leg.destination} again"
        status = leg.status if leg.end_reason is None else f"{leg.status}:{leg.end_reason}"
        held = (" held by the chair" if leg.held_by_chair else " held") if leg.held else ""
        legs[name] = status + (" muted" if leg.muted else "") + held
    state = view.status if view.end_reason is None else f"{view.status}:{view.end_reason}"
    if view.recording is not None:
        state += f" recording {view.recording}"
    if view.transfer is not None:
        state += f" transfer to {view.transfer.to} {view.transfer.status}"
    return ("updated", state, legs)


def replay(log: list[tuple[RuleInput, list[tuple[Any, ...]] | None]]) -> Conference | None:
    """Each step's commands must be those expected; None: a step on the way, whatever it says."""
    conference: Conference | None = None
    for step, (given, expected) in enumerate(log):
        decision = decide(conference, given)
        conference = decision.conference if decision.conference is not None else conference
        actual = [summarise(command, conference) for command in decision.commands]
        assert expected is None or actual == expected, f"step {step}: {given}"
    return conference


def replay_calls(
    log: list[tuple[str, RuleInput, list[tuple[str, tuple[Any, ...]]] | None]],
) -> dict[str, Conference]:
    """Like `replay`, over several conferences: each step names the one it is given to.

    A `MoveLeg` hands the other conference its input at once, as the shell does; what that decides follows
    in the expected list. Each output is (conference id, summary).
    """
    conferences: dict[str, Conference] = {}
    for step, (conference_id, given, expected) in enumerate(log):
        actual: list[tuple[str, tuple[Any, ...]]] = []
        pending: list[tuple[str, RuleInput]] = [(conference_id, given)]
        while pending:
            where, what = pending.pop(0)
            decision = decide(conferences.get(where), what)
            if decision.conference is not None:
                conferences[where] = decision.conference
            for command in decision.commands:
                actual.append((where, summarise(command, conferences.get(where))))
                if isinstance(command, MoveLeg):
                    pending.append((command.then.conference_id, command.then))
        assert expected is None or actual == expected, f"step {step}: {given}\n{actual}"
    return conferences

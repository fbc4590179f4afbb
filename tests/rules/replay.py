"""Replay a log of rule inputs and compare what comes out, step by step.

Outputs are written compactly so a log reads like the original's event logs:
  ("updated", "active", {"alice": "in-progress", "bob": "ringing"})
  ("dial", "bob")            ("hang_up", "alice", "ended")
  ("refused", "self_call")
"""

from __future__ import annotations

from typing import Any

from talkbox.events.models import CallRefused, ConferenceUpdated, LegMuteChanged, LegStatusChanged, PhoneKind
from talkbox.telephony.model import Conference
from talkbox.telephony.rules import (
    AddParticipant,
    Command,
    DialLeg,
    HangUp,
    HangUpLeg,
    Mute,
    MuteLeg,
    Publish,
    Record,
    Rejoin,
    RemoveParticipant,
    RuleInput,
    StartCall,
    StartRecording,
    StopRecording,
    decide,
)

CONFERENCE = "c-1"
LEG_OF = {"alice": "l-alice", "bob": "l-callee", "carol": "l-carol", "dave": "l-dave", "alice again": "l-alice-2"}


def call(
    caller: str = "alice",
    to: str = "bob",
    *,
    caller_in_call: bool = False,
    telephones: PhoneKind | None = None,
    voicemail: bool = False,
) -> StartCall:
    voicemail_id = "v-1" if voicemail else None
    return StartCall(CONFERENCE, LEG_OF[caller], "l-callee", caller, to, caller_in_call, telephones, voicemail_id)


def record(on: bool = True, by: str = "alice", recording_id: str = "r-1") -> Record:
    return Record(by, on, recording_id)


class Reports:
    """Provider reports with increasing sequence numbers, as a provider sends them."""

    def __init__(self) -> None:
        self.sequence = 0

    def __call__(
        self, who: str, status: str, reason: str | None = None, *, sequence: int | None = None
    ) -> LegStatusChanged:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        leg_id = LEG_OF[who]
        return LegStatusChanged(
            conference_id=CONFERENCE, leg_id=leg_id, status=status, sequence=sequence, reason=reason
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


def rejoin(user: str = "alice") -> Rejoin:
    return Rejoin(user, LEG_OF["alice again"])


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
    assert isinstance(command, Publish)
    event = command.event
    if isinstance(event, CallRefused):
        return ("refused", event.code)
    assert isinstance(event, ConferenceUpdated)
    view = event.conference
    legs: dict[str, str] = {}
    for leg in view.legs:
        name = leg.destination if leg.destination not in legs else f"{leg.destination} again"
        status = leg.status if leg.end_reason is None else f"{leg.status}:{leg.end_reason}"
        legs[name] = status + (" muted" if leg.muted else "")
    state = view.status if view.end_reason is None else f"{view.status}:{view.end_reason}"
    if view.recording is not None:
        state += f" recording {view.recording}"
    return ("updated", state, legs)


def replay(log: list[tuple[RuleInput, list[tuple[Any, ...]]]]) -> Conference | None:
    conference: Conference | None = None
    for step, (given, expected) in enumerate(log):
        decision = decide(conference, given)
        conference = decision.conference if decision.conference is not None else conference
        actual = [summarise(command, conference) for command in decision.commands]
        assert actual == expected, f"step {step}: {given}"
    return conference

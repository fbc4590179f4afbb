"""The call rules as one pure function: (conference, input) -> (conference, commands).

No I/O, no clock, no ids made up here: whatever varies comes in with the input,
so a list of inputs replays to the same commands every time (tests/rules).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from talkbox.events.models import (
    CallRefused,
    ConferenceUpdated,
    LegKind,
    LegMuteChanged,
    LegStatusChanged,
    PhoneKind,
    RecordingKind,
)
from talkbox.events.names import is_client_name, is_e164, is_valid_destination
from talkbox.telephony.model import Conference, Leg, Taping

# --- inputs ------------------------------------------------------------------


@dataclass(frozen=True)
class StartCall:
    """A user asks to call `to`; the shell supplies fresh ids and whether the caller is busy."""

    conference_id: str
    chair_leg_id: str
    callee_leg_id: str
    caller: str
    to: str
    caller_in_call: bool = False
    # How this Talkbox reaches telephones (None: it cannot): the kind a number's leg gets.
    telephones: PhoneKind | None = None
    # The voicemail the call becomes if the callee (a user with voicemail on) does not take it; None: none.
    voicemail_id: str | None = None


@dataclass(frozen=True)
class HangUp:
    user: str


@dataclass(frozen=True)
class AddParticipant:
    """The chair asks to add `to`; the shell supplies the new leg's id and the size limit."""

    user: str
    to: str
    leg_id: str
    limit: int
    telephones: PhoneKind | None = None


@dataclass(frozen=True)
class RemoveParticipant:
    user: str
    leg_id: str


@dataclass(frozen=True)
class Mute:
    user: str
    leg_id: str
    muted: bool


@dataclass(frozen=True)
class Rejoin:
    """The chair, whose leg dropped, comes back on a new leg."""

    user: str
    leg_id: str


@dataclass(frozen=True)
class Record:
    """The chair starts (`on`) or stops recording the call; a start names the recording it makes."""

    user: str
    on: bool
    recording_id: str


@dataclass(frozen=True)
class IncomingCall:
    """A telephone called in and its leg is already answered; ring every client in `ring`.

    The shell supplies the ids: the conference and caller's leg (named by the
    provider's webhook, which had to answer at once) and one leg id per client,
    as (leg_id, client name) pairs. The first client to answer takes the call.
    """

    conference_id: str
    caller_leg_id: str
    caller: str
    provider_id: str | None
    ring: tuple[tuple[str, str], ...]
    caller_kind: PhoneKind = "twilio"


RuleInput = (
    StartCall
    | IncomingCall
    | HangUp
    | AddParticipant
    | RemoveParticipant
    | Mute
    | Rejoin
    | Record
    | LegStatusChanged
    | LegMuteChanged
)

# --- commands ------------------------------------------------------------------


@dataclass(frozen=True)
class DialLeg:
    conference_id: str
    leg_id: str
    destination: str
    caller: str
    auto_answer: bool
    # The leg's kind, and its caller's (the chair's): a provider places a call from a number or a name.
    # The rules fill both in from the conference (`_kinded`), so no command is built without them.
    kind: LegKind = "browser"
    caller_kind: LegKind = "browser"


@dataclass(frozen=True)
class HangUpLeg:
    conference_id: str
    leg_id: str
    reason: str
    kind: LegKind = "browser"


@dataclass(frozen=True)
class MuteLeg:
    conference_id: str
    leg_id: str
    muted: bool
    kind: LegKind = "browser"


@dataclass(frozen=True)
class StartRecording:
    """Record the conference's mix: a call (after an announcement tone) or a voicemail (after a greeting).

    `caller` is whoever placed the call (for a voicemail: who left it, on `leg_id`, the chair's leg). The
    kind is the chair's leg's: the provider that carries it records the conference.
    """

    conference_id: str
    recording_id: str
    recording: RecordingKind
    owners: tuple[str, ...]
    caller: str
    leg_id: str
    kind: LegKind = "browser"


@dataclass(frozen=True)
class StopRecording:
    """Stop recording; `owners` are all who were on the call while it was recorded."""

    conference_id: str
    recording_id: str
    recording: RecordingKind
    owners: tuple[str, ...]
    caller: str
    leg_id: str
    kind: LegKind = "browser"


@dataclass(frozen=True)
class Publish:
    event: ConferenceUpdated | CallRefused


Command = DialLeg | HangUpLeg | MuteLeg | StartRecording | StopRecording | Publish


@dataclass(frozen=True)
class Decision:
    conference: Conference | None
    commands: tuple[Command, ...] = ()


# --- the rules -------------------------------------------------------------------


def decide(conference: Conference | None, given: RuleInput) -> Decision:
    decided = _remember_dials(_remember_hang_ups(_taped(_decide(conference, given))))
    return _addressed(conference, _kinded(decided))


def _decide(conference: Conference | None, given: RuleInput) -> Decision:
    if isinstance(given, StartCall):
        # Delivered again: the conference it started exists, and a second start changes nothing.
        return _start_call(given) if conference is None else Decision(conference)
    if isinstance(given, IncomingCall):
        # A webhook delivered twice names the same conference: the second changes nothing.
        return _incoming_call(given) if conference is None else Decision(conference)
    if conference is None or conference.ended:
        return Decision(conference)
    if isinstance(given, HangUp):
        return _hang_up(conference, given.user)
    if isinstance(given, AddParticipant):
        return _add(conference, given)
    if isinstance(given, RemoveParticipant):
        return _remove(conference, given)
    if isinstance(given, Mute):
        return _mute(conference, given)
    if isinstance(given, Rejoin):
        return _rejoin(conference, given)
    if isinstance(given, Record):
        return _record(conference, given)
    if isinstance(given, LegMuteChanged):
        return _mute_reported(conference, given)
    return _leg_status(conference, given)


def _refuse(user: str, code: str, message: str) -> tuple[Command, ...]:
    return (Publish(CallRefused(user=user, code=code, message=message)),)


def _start_call(given: StartCall) -> Decision:
    refusal = _refusal(given)
    if refusal is not None:
        return Decision(None, _refuse(given.caller, *refusal))
    callee = _new_leg(given.callee_leg_id, given.to, given.telephones)
    conference = Conference(
        id=given.conference_id,
        chair_leg_id=given.chair_leg_id,
        legs=(Leg(given.chair_leg_id, given.caller), callee),
        voicemail_id=given.voicemail_id if callee.kind == "browser" else None,
    )
    # The chair's own leg first: nobody is rung into an empty conference.
    dial = DialLeg(conference.id, given.chair_leg_id, given.caller, given.caller, auto_answer=True)
    return Decision(conference, (_updated(conference), dial))


def _new_leg(leg_id: str, to: str, telephones: PhoneKind | None) -> Leg:
    """The one place a destination says what a leg is: a number is a telephone, a name a browser."""
    if is_e164(to) and telephones is not None:
        return Leg(leg_id, to, kind=telephones)
    return Leg(leg_id, to)


def _incoming_call(given: IncomingCall) -> Decision:
    caller = Leg(
        given.caller_leg_id, given.caller, status="in-progress", kind=given.caller_kind, provider_id=given.provider_id
    )
    ring: dict[str, Leg] = {}
    for leg_id, name in given.ring:
        if is_client_name(name) and name not in ring:
            ring[name] = Leg(leg_id, name)
    conference = Conference(
        id=given.conference_id,
        chair_leg_id=caller.id,
        legs=(caller, *ring.values()),
        ring_group=tuple(leg.id for leg in ring.values()),
    )
    if not ring:
        return _settle(conference, (HangUpLeg(conference.id, caller.id, "unavailable"),))
    dials = tuple(DialLeg(conference.id, leg.id, leg.destination, given.caller, False) for leg in ring.values())
    return _settle(conference, dials)


def _refusal(given: StartCall) -> tuple[str, str] | None:
    if not is_valid_destination(given.to):
        return "invalid_destination", f"{given.to!r} is not a name or an E.164 number"
    if is_e164(given.to) and given.telephones is None:
        return _NO_TELEPHONES
    if given.to == given.caller:
        return "self_call", "You cannot call yourself"
    if given.caller_in_call:
        return "already_in_call", "You are already in a call"
    return None


def _hang_up(conference: Conference, user: str) -> Decision:
    leg = conference.live_leg_of(user)
    if leg is None:
        return Decision(conference)
    commands = (HangUpLeg(conference.id, leg.id, "hung-up"),)
    if leg.id == conference.chair_leg_id and leg.status != "in-progress":
        # The chair gives up before its own leg connected: nobody else was rung yet.
        return _settle(_cancel_undialled(conference, "caller-canceled"), commands)
    return Decision(conference, commands)


def _add(conference: Conference, given: AddParticipant) -> Decision:
    refusal = _add_refusal(conference, given)
    if refusal is not None:
        return Decision(conference, _refuse(given.user, *refusal))
    if conference.has_leg(given.leg_id):
        return Decision(conference)  # delivered again after that leg ended: not a second leg of one id
    conference = replace(conference, legs=(*conference.legs, _new_leg(given.leg_id, given.to, given.telephones)))
    if conference.chair.status != "in-progress":
        return _settle(conference, ())  # dialled once the chair has joined
    dial = DialLeg(conference.id, given.leg_id, given.to, given.user, auto_answer=False)
    return _settle(conference, (dial,))


_NO_TELEPHONES = ("no_telephones", "This Talkbox is not connected to the telephone network")


def _add_refusal(conference: Conference, given: AddParticipant) -> tuple[str, str] | None:
    if not _is_chair(conference, given.user):
        return "not_chair", "Only the chairperson can add people"
    if conference.taping is not None and conference.taping.kind == "voicemail":
        return "leaving_voicemail", "You are leaving a message: hang up first"
    if not is_valid_destination(given.to):
        return "invalid_destination", f"{given.to!r} is not a name or an E.164 number"
    if is_e164(given.to) and given.telephones is None:
        return _NO_TELEPHONES
    if conference.live_leg_of(given.to) is not None:
        return "already_in_conference", f"{given.to} is already on the call"
    if len(conference.live_legs()) >= given.limit:
        return "conference_full", f"A call can have at most {given.limit} people"
    return None


def _remove(conference: Conference, given: RemoveParticipant) -> Decision:
    if not _is_chair(conference, given.user) or given.leg_id == conference.chair_leg_id:
        return Decision(conference, _refuse(given.user, "not_chair", "Only the chairperson can remove others"))
    if not conference.has_leg(given.leg_id):
        return Decision(conference)
    leg = conference.leg(given.leg_id)
    if leg.ended:
        return Decision(conference)
    if _never_dialled(leg):
        conference = conference.with_leg(replace(leg, status="canceled", end_reason="removed"))
        # Removing the last guest before the chair connected leaves the chair alone too.
        return _settle(conference, _after_leg_left(conference))
    return Decision(conference, (HangUpLeg(conference.id, leg.id, "removed"),))


def _mute(conference: Conference, given: Mute) -> Decision:
    if not conference.has_leg(given.leg_id):
        return Decision(conference)
    leg = conference.leg(given.leg_id)
    if leg.ended or leg.muted == given.muted:
        return Decision(conference)
    if leg.destination != given.user and not _is_chair(conference, given.user):
        return Decision(conference, _refuse(given.user, "not_chair", "Only the chairperson can mute others"))
    conference = conference.with_leg(replace(leg, muted=given.muted))
    return _settle(conference, (MuteLeg(conference.id, leg.id, given.muted),))


def _mute_reported(conference: Conference, report: LegMuteChanged) -> Decision:
    """The provider could not apply a mute: the leg shows what the provider has, and nothing is asked of it."""
    if not conference.has_leg(report.leg_id):
        return Decision(conference)
    leg = conference.leg(report.leg_id)
    if leg.ended or leg.muted == report.muted:
        return Decision(conference)
    return _settle(conference.with_leg(replace(leg, muted=report.muted)), ())


def _rejoin(conference: Conference, given: Rejoin) -> Decision:
    chair = conference.chair
    if chair.destination != given.user or not chair.ended or conference.has_leg(given.leg_id):
        return Decision(conference)  # not the chair's to do, or delivered again
    conference = replace(conference, chair_leg_id=given.leg_id, legs=(*conference.legs, Leg(given.leg_id, given.user)))
    return _settle(conference, (DialLeg(conference.id, given.leg_id, given.user, given.user, auto_answer=True),))


def _record(conference: Conference, given: Record) -> Decision:
    if not _is_chair(conference, given.user):
        return Decision(conference, _refuse(given.user, "not_chair", "Only the chairperson can record the call"))
    taping = conference.taping
    if not given.on:
        if taping is None or taping.kind != "call":
            return Decision(conference)
        return _settle(replace(conference, taping=None), (_stop(conference, taping),))
    if taping is not None or given.recording_id in conference.recorded:
        return Decision(conference)  # already recording (or a message is being left), or delivered again
    if conference.chair.status != "in-progress":
        return Decision(conference, _refuse(given.user, "not_connected", "The call is not connected yet"))
    taping = Taping(given.recording_id, "call", _on_the_call(conference))
    return _settle(_taping(conference, taping), (_start(conference, taping),))


def _on_the_call(conference: Conference, also: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The users who hear the call now (and those who already did): a recording's owners."""
    heard = (leg.destination for leg in conference.live_legs() if leg.status == "in-progress" and leg.kind == "browser")
    return tuple(dict.fromkeys((*also, *heard)))


def _start(conference: Conference, taping: Taping) -> StartRecording:
    chair = conference.chair
    return StartRecording(conference.id, taping.id, taping.kind, taping.owners, chair.destination, chair.id)


def _stop(conference: Conference, taping: Taping) -> StopRecording:
    chair = conference.chair
    return StopRecording(conference.id, taping.id, taping.kind, taping.owners, chair.destination, chair.id)


def _to_voicemail(conference: Conference, leg: Leg) -> bool:
    """The callee of a call of two did not take it (not answered in time, rejected, busy) and has voicemail on.

    Not someone who is not online at all: in open mode any name is a user, and a typo would take a message.
    """
    if conference.voicemail_id is None or conference.taping is not None or leg.id == conference.chair_leg_id:
        return False
    missed = leg.status in ("busy", "no-answer")
    others = [other for other in conference.live_legs() if other.id != conference.chair_leg_id]
    chair = conference.chair
    return missed and not others and chair.status == "in-progress" and chair.hang_up_reason is None


def _take_voicemail(conference: Conference, leg: Leg) -> tuple[Conference, tuple[Command, ...]]:
    assert conference.voicemail_id is not None
    taping = Taping(conference.voicemail_id, "voicemail", (leg.destination,))
    return _taping(conference, taping), (_start(conference, taping),)


def _taping(conference: Conference, taping: Taping) -> Conference:
    return replace(conference, taping=taping, recorded=(*conference.recorded, taping.id))


def _is_chair(conference: Conference, user: str) -> bool:
    """The chair acts while on the call; a chair who dropped may only rejoin."""
    return conference.chair.destination == user and not conference.chair.ended


def _leg_status(conference: Conference, report: LegStatusChanged) -> Decision:
    if not conference.has_leg(report.leg_id):
        return Decision(conference)
    leg = conference.leg(report.leg_id)
    if leg.ended or report.sequence <= leg.sequence or _goes_back(leg.status, report.status):
        return Decision(conference)  # late or repeated report
    was_connected = leg.status == "in-progress"
    reason = report.reason
    if leg.hang_up_reason is not None and report.status in ("completed", "canceled"):
        reason = leg.hang_up_reason  # it ended because Talkbox asked, whatever the provider can tell
    updated = replace(
        leg,
        status=report.status,
        sequence=report.sequence,
        end_reason=reason,
        provider_id=leg.provider_id or report.provider_id,
    )
    conference = conference.with_leg(updated)
    commands: tuple[Command, ...] = ()
    is_chair = leg.id == conference.chair_leg_id
    if leg.id in conference.ring_group and updated.status == "in-progress":
        conference, commands = _answered_by(conference, leg.id)
    elif is_chair and updated.status == "in-progress" and not was_connected:
        commands = _dial_queued(conference)
    elif updated.ended:
        if is_chair and conference.ring_group:
            conference, commands = _caller_gave_up(conference)
        elif _to_voicemail(conference, updated):
            conference, commands = _take_voicemail(conference, updated)
        else:
            if is_chair and not was_connected:
                conference = _cancel_undialled(conference, "chair-unreachable")
            commands = _after_leg_left(conference)
    return _settle(conference, commands)


_PROGRESS = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}


def _goes_back(status: str, reported: str) -> bool:
    """A leg only moves forward (queued, initiated, ringing, in-progress, ended).

    A report that would move it back is late whatever its number: otherwise a
    chair "connecting" a second time would dial its guests again.
    """
    return _PROGRESS.get(reported, len(_PROGRESS)) < _PROGRESS.get(status, len(_PROGRESS))


def _answered_by(conference: Conference, leg_id: str) -> tuple[Conference, tuple[Command, ...]]:
    """The first of a ring group to answer takes the call; the others stop ringing."""
    others = tuple(
        HangUpLeg(conference.id, leg.id, "answered-elsewhere")
        for leg in conference.live_legs()
        if leg.id in conference.ring_group and leg.id != leg_id
    )
    return replace(conference, ring_group=()), others


def _caller_gave_up(conference: Conference) -> tuple[Conference, tuple[Command, ...]]:
    """The telephone hung up while its ring group was still ringing: stop them all."""
    ringing = tuple(
        HangUpLeg(conference.id, leg.id, "caller-canceled")
        for leg in conference.live_legs()
        if leg.id in conference.ring_group
    )
    return replace(conference, ring_group=()), ringing


def _dial_queued(conference: Conference) -> tuple[Command, ...]:
    """Everyone waiting for the chair; not twice (a rejoined chair connects again), not the leaving."""
    caller = conference.chair.destination
    return tuple(
        DialLeg(conference.id, leg.id, leg.destination, caller, auto_answer=False)
        for leg in conference.legs
        if leg.id != conference.chair_leg_id and _never_dialled(leg) and leg.hang_up_reason is None
    )


def _cancel_undialled(conference: Conference, reason: str) -> Conference:
    """Legs the provider never had end here; a dialled one must be hung up, or it would ring on."""
    for leg in conference.legs:
        if leg.id != conference.chair_leg_id and _never_dialled(leg):
            conference = conference.with_leg(replace(leg, status="canceled", end_reason=reason))
    return conference


def _never_dialled(leg: Leg) -> bool:
    return leg.status == "queued" and not leg.dialled and leg.sequence == 0


def _after_leg_left(conference: Conference) -> tuple[Command, ...]:
    """Who else must go when a leg has left."""
    # Legs Talkbox has already asked to hang up are leaving too (their reports may lag).
    live = tuple(leg for leg in conference.live_legs() if leg.hang_up_reason is None)
    chair = conference.chair
    if conference.taping is not None and conference.taping.kind == "voicemail":
        return ()  # the caller, alone, is leaving a message
    if len(live) == 1 and (live[0].id == chair.id or chair.ended):
        # The chair alone, or one guest left behind by a departed chair: the call is over.
        reason = "ended" if live[0].status == "in-progress" else "caller-canceled"
        return (HangUpLeg(conference.id, live[0].id, reason),)
    return ()


def _settle(conference: Conference, commands: tuple[Command, ...]) -> Decision:
    if conference.ended and conference.end_reason is None:
        conference = replace(conference, end_reason=_end_reason(conference))
    return Decision(conference, (_updated(conference), *commands))


def _end_reason(conference: Conference) -> str:
    chair = conference.chair
    if conference.taping is not None and conference.taping.kind == "voicemail":
        return "voicemail"

    guests = [leg for leg in conference.legs if leg.id != chair.id]
    if any(leg.end_reason == "chair-unreachable" for leg in guests):
        return "chair-unreachable"
    if any(leg.status == "completed" for leg in guests):
        return "hung-up"
    first = guests[0].status if guests else "completed"
    if first == "failed" and guests[0].end_reason == "unavailable":
        return "unavailable"
    return {"completed": "hung-up"}.get(first, first)


def _taped(decision: Decision) -> Decision:
    """A recording gains whoever joins the call while it runs, and stops when the call ends."""
    conference = decision.conference
    if conference is None or conference.taping is None:
        return decision
    taping = conference.taping
    if taping.kind == "call":
        taping = replace(taping, owners=_on_the_call(conference, taping.owners))
    if not conference.ended:
        return replace(decision, conference=replace(conference, taping=taping))
    return replace(
        decision,
        conference=replace(conference, taping=None),
        commands=(*decision.commands, _stop(conference, taping)),
    )


def _remember_hang_ups(decision: Decision) -> Decision:
    """Note on each leg Talkbox hangs up why it did, for the report that it ended."""
    conference = decision.conference
    if conference is None:
        return decision
    for command in decision.commands:
        if isinstance(command, HangUpLeg) and conference.has_leg(command.leg_id):
            leg = conference.leg(command.leg_id)
            if leg.hang_up_reason is None and not leg.ended:
                conference = conference.with_leg(replace(leg, hang_up_reason=command.reason))
    return replace(decision, conference=conference)


def _remember_dials(decision: Decision) -> Decision:
    """Mark each leg the provider is asked to dial, so that it is never dialled again."""
    conference = decision.conference
    if conference is None:
        return decision
    for command in decision.commands:
        if isinstance(command, DialLeg) and conference.has_leg(command.leg_id):
            conference = conference.with_leg(replace(conference.leg(command.leg_id), dialled=True))
    return replace(decision, conference=conference)


def _kinded(decision: Decision) -> Decision:
    """Each command for a leg says what the leg is, so the shell hands it to the leg's provider."""
    conference = decision.conference
    if conference is None:
        return decision
    commands = []
    for command in decision.commands:
        if isinstance(command, DialLeg | HangUpLeg | MuteLeg) and conference.has_leg(command.leg_id):
            command = replace(command, kind=conference.leg(command.leg_id).kind)
            if isinstance(command, DialLeg):
                command = replace(command, caller_kind=conference.chair.kind)
        elif isinstance(command, StartRecording | StopRecording):
            command = replace(command, kind=conference.chair.kind)
        commands.append(command)
    return replace(decision, commands=tuple(commands))


def _updated(conference: Conference) -> Publish:
    return Publish(ConferenceUpdated(conference=conference.view(), users=conference.members()))


def _addressed(before: Conference | None, decision: Decision) -> Decision:
    """Each update goes to the members after it and those before it: whoever just left hears how, once."""
    if before is None:
        return decision
    left = before.members()
    commands = tuple(
        Publish(command.event.model_copy(update={"users": tuple(dict.fromkeys((*left, *command.event.users)))}))
        if isinstance(command, Publish) and isinstance(command.event, ConferenceUpdated)
        else command
        for command in decision.commands
    )
    return replace(decision, commands=commands)

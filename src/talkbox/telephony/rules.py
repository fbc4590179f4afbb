"""The call rules as one pure function: (conference, input) -> (conference, commands).

No I/O, no clock, no ids made up here: whatever varies comes in with the input,
so a list of inputs replays to the same commands every time (tests/rules).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from talkbox.events.models import (
    CallNotDisturbed,
    CallRefused,
    ConferenceUpdated,
    DigitPressed,
    LegHoldChanged,
    LegHoldFailed,
    LegKind,
    LegMuteChanged,
    LegStatusChanged,
    PhoneKind,
    RecordingKind,
)
from talkbox.events.names import is_client_name, is_e164, is_valid_destination
from talkbox.telephony.model import Conference, Leg, Taping, Transfer

# --- inputs ------------------------------------------------------------------


@dataclass(frozen=True)
class StartCall:
    """A user asks to call `to`; the shell supplies fresh ids and whether the caller is busy."""

    conference_id: str
    chair_leg_id: str
    callee_leg_id: str
    caller: str
    to: str
    # The caller's other live calls, and how many one user may be on (placing one holds the others).
    caller_calls: int = 0
    max_calls: int = 3
    # How this Talkbox reaches telephones (None: it cannot): the kind a number's leg gets.
    telephones: PhoneKind | None = None
    # The voicemail the call becomes if the callee (a user with voicemail on) does not take it; None: none.
    voicemail_id: str | None = None
    # The callee asked not to be disturbed (their page's `set_presence`): the call is refused, not rung;
    # with voicemail on (`voicemail_id`), it goes straight to their voicemail instead.
    callee_dnd: bool = False


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
    dnd: bool = False  # the person to add asked not to be disturbed


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
class Hold:
    """Put a leg on hold (or take it off): the leg's own user, or the chair for anyone on the call."""

    user: str
    leg_id: str
    held: bool


@dataclass(frozen=True)
class CompleteTransfer:
    """An attended transfer: the chair held `leg_id`, added someone to talk to, and now leaves the two talking.

    The held party takes the chair, comes off hold, and the chair's leg is hung up (`transferred`).
    """

    user: str
    leg_id: str


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
class TransferCall:
    """`user` hands the other party of their call of two to `to` and leaves (a blind transfer).

    The shell supplies the ids of the leg that rings `to` and of the leg that rings `user`
    again should `to` not answer (the recall).

    In a call of more than two the chair names the party (`party_leg_id`), who leaves the call
    for a new one with `to` (`new_conference_id`, from the shell; None: this shell cannot move a
    leg between conferences, and only a call of two transfers).
    """

    user: str
    to: str
    leg_id: str
    recall_leg_id: str
    telephones: PhoneKind | None = None
    party_leg_id: str | None = None
    new_conference_id: str | None = None


@dataclass(frozen=True)
class TakeTransferred:
    """The new call of a party transferred out of a larger one: it waits on ringback while `to` rings.

    `leg` is the party's leg as it left `back_to`, where it goes back if `to` does not answer.
    """

    conference_id: str
    leg: Leg
    back_to: str
    by: str
    to: str
    target_leg_id: str
    telephones: PhoneKind | None = None


@dataclass(frozen=True)
class ReturnLeg:
    """A transferred party whose target did not answer comes back from `from_conference_id` to its call."""

    conference_id: str
    leg: Leg
    from_conference_id: str


@dataclass(frozen=True)
class PressDigits:
    """Keys pressed on `user`'s keypad, for the telephones on the call."""

    user: str
    digits: str


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
    # Clients of the group who asked not to be disturbed: not rung (with nobody left, the phone hears none).
    dnd: frozenset[str] = frozenset()


RuleInput = (
    StartCall
    | IncomingCall
    | HangUp
    | AddParticipant
    | RemoveParticipant
    | Mute
    | Hold
    | CompleteTransfer
    | Rejoin
    | Record
    | TransferCall
    | TakeTransferred
    | ReturnLeg
    | PressDigits
    | LegStatusChanged
    | LegMuteChanged
    | LegHoldChanged
    | LegHoldFailed
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


# What a leg waiting on a transfer hears instead of the call: ringback while the target rings;
# "recall": a short tone (the transfer failed), then ringback while the transferor is rung again;
# "returned": that tone alone, then the call it came back to (out of a larger call, the target unanswered).
Sound = Literal["ringback", "recall", "returned"]


@dataclass(frozen=True)
class PlayToLeg:
    """Play `sound` to the leg instead of the call; None: the leg hears the call again."""

    conference_id: str
    leg_id: str
    sound: Sound | None
    kind: LegKind = "browser"


@dataclass(frozen=True)
class SendDigits:
    """Keypad digits to a telephone leg (RFC 4733 events on SIP)."""

    conference_id: str
    leg_id: str
    digits: str
    kind: LegKind = "browser"


@dataclass(frozen=True)
class HoldLeg:
    """Leave the leg out of the mix (or bring it back); `music`: it hears music on hold rather than nothing."""

    conference_id: str
    leg_id: str
    held: bool
    music: bool
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
class MoveLeg:
    """Move the leg's media from this conference to `then.conference_id`, then hand that conference `then`.

    The leg keeps its id, its provider's call and its endpoint: only the call it is on changes.
    """

    conference_id: str
    leg_id: str
    then: TakeTransferred | ReturnLeg
    kind: LegKind = "browser"


# A provider's word about a leg that has gone on to another conference: handed on to it.
Report = LegStatusChanged | LegMuteChanged | LegHoldChanged | LegHoldFailed


@dataclass(frozen=True)
class Publish:
    event: ConferenceUpdated | CallRefused | CallNotDisturbed | Report


LegCommand = DialLeg | HangUpLeg | MuteLeg | HoldLeg | PlayToLeg | SendDigits | MoveLeg
Command = LegCommand | StartRecording | StopRecording | Publish


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
    if isinstance(given, TakeTransferred):
        return _take_transferred(given) if conference is None else Decision(conference)
    if conference is not None and isinstance(given, Report) and _left(conference, given.leg_id) is not None:
        return Decision(conference, (_handed_on(given, _left(conference, given.leg_id)),))
    if conference is not None and isinstance(given, ReturnLeg):
        return _return(conference, given)  # also to a call that ended meanwhile: the leg must go somewhere
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
    if isinstance(given, Hold):
        return _hold(conference, given)
    if isinstance(given, CompleteTransfer):
        return _complete_transfer(conference, given)
    if isinstance(given, Rejoin):
        return _rejoin(conference, given)
    if isinstance(given, Record):
        return _record(conference, given)
    if isinstance(given, TransferCall):
        return _transfer(conference, given)
    if isinstance(given, PressDigits):
        return _press(conference, given)
    if isinstance(given, LegMuteChanged):
        return _mute_reported(conference, given)
    if isinstance(given, LegHoldChanged):
        return _hold_reported(conference, given)
    if isinstance(given, LegHoldFailed):
        return _hold_failed(conference, given)
    return _leg_status(conference, given)


def _refuse(user: str, code: str, message: str) -> tuple[Command, ...]:
    return (Publish(CallRefused(user=user, code=code, message=message)),)


def _refused(conference_id: str, caller: str, to: str, code: str, message: str) -> tuple[Command, ...]:
    """The refusal; one for do not disturb is kept in both histories too."""
    commands = _refuse(caller, code, message)
    if code == "dnd":
        commands += (Publish(CallNotDisturbed(conference_id=conference_id, caller=caller, callee=to)),)
    return commands


def _start_call(given: StartCall) -> Decision:
    refusal = _refusal(given)
    if refusal is not None:
        return Decision(None, _refused(given.conference_id, given.caller, given.to, *refusal))
    callee = _new_leg(given.callee_leg_id, given.to, given.telephones)
    voicemail_id = given.voicemail_id if callee.kind == "browser" else None
    commands: tuple[Command, ...] = ()
    if given.callee_dnd:
        # Never dialled, and ended from the start: once the caller's own leg connects, they leave a message.
        callee = replace(callee, status="busy", end_reason="dnd")
        commands = (Publish(CallNotDisturbed(conference_id=given.conference_id, caller=given.caller, callee=given.to)),)
    conference = Conference(
        id=given.conference_id,
        chair_leg_id=given.chair_leg_id,
        legs=(Leg(given.chair_leg_id, given.caller), callee),
        voicemail_id=voicemail_id,
    )
    # The chair's own leg first: nobody is rung into an empty conference.
    dial = DialLeg(conference.id, given.chair_leg_id, given.caller, given.caller, auto_answer=True)
    return Decision(conference, (_updated(conference), dial, *commands))


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
        if is_client_name(name) and name not in ring and name not in given.dnd:
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
    if (refusal := _undialable(given.to, given.telephones)) is not None:
        return refusal
    if given.to == given.caller:
        return "self_call", "You cannot call yourself"
    if given.caller_calls >= given.max_calls:
        return "too_many_calls", f"You are on {given.caller_calls} calls already: hang one up first"
    if given.callee_dnd and given.voicemail_id is None:
        return _do_not_disturb(given.to)  # with voicemail, the call goes there instead
    return None


def _do_not_disturb(name: str) -> tuple[str, str]:
    return "dnd", f"{name} does not want to be disturbed"


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
        return Decision(conference, _refused(conference.id, given.user, given.to, *refusal))
    if conference.has_leg(given.leg_id):
        return Decision(conference)  # delivered again after that leg ended: not a second leg of one id
    conference = replace(conference, legs=(*conference.legs, _new_leg(given.leg_id, given.to, given.telephones)))
    if conference.chair.status != "in-progress":
        return _settle(conference, ())  # dialled once the chair has joined
    dial = DialLeg(conference.id, given.leg_id, given.to, given.user, auto_answer=False)
    return _settle(conference, (dial,))


_NO_TELEPHONES = ("no_telephones", "This Talkbox is not connected to the telephone network")


def _undialable(to: str, telephones: PhoneKind | None) -> tuple[str, str] | None:
    """Why `to` cannot be dialled at all: not a name or a number, or a number with no telephone network."""
    if not is_valid_destination(to):
        return "invalid_destination", f"{to!r} is not a name or an E.164 number"
    if is_e164(to) and telephones is None:
        return _NO_TELEPHONES
    return None


def _add_refusal(conference: Conference, given: AddParticipant) -> tuple[str, str] | None:
    if not _is_chair(conference, given.user):
        return "not_chair", "Only the chairperson can add people"
    if conference.taping is not None and conference.taping.kind == "voicemail":
        return "leaving_voicemail", "You are leaving a message: hang up first"
    if conference.transfer is not None:
        return _TRANSFER_PENDING
    if (refusal := _undialable(given.to, given.telephones)) is not None:
        return refusal
    if conference.live_leg_of(given.to) is not None:
        return "already_in_conference", f"{given.to} is already on the call"
    if len(conference.live_legs()) >= given.limit:
        return "conference_full", f"A call can have at most {given.limit} people"
    if given.dnd:
        return _do_not_disturb(given.to)
    return None


def _remove(conference: Conference, given: RemoveParticipant) -> Decision:
    if not _is_chair(conference, given.user) or given.leg_id == conference.chair_leg_id:
        return Decision(conference, _refuse(given.user, "not_chair", "Only the chairperson can remove others"))
    if conference.transfer is not None:
        return Decision(conference, _refuse(given.user, *_TRANSFER_PENDING))
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


def _hold(conference: Conference, given: Hold) -> Decision:
    if not conference.has_leg(given.leg_id):
        return Decision(conference)
    leg = conference.leg(given.leg_id)
    if leg.ended or leg.held == given.held:
        return Decision(conference)
    refusal = _hold_refusal(conference, leg, given)
    if refusal is not None:
        return Decision(conference, _refuse(given.user, *refusal))
    by_chair = given.held and leg.destination != given.user
    conference = conference.with_leg(replace(leg, held=given.held, held_by_chair=by_chair))
    return _settle(conference, (HoldLeg(conference.id, leg.id, given.held, music=by_chair),))


def _hold_refusal(conference: Conference, leg: Leg, given: Hold) -> tuple[str, str] | None:
    """Anyone holds their own leg, the chair anyone's; a hold is taken off by whoever put it on."""
    own = leg.destination == given.user
    if given.held:
        return None if own or _is_chair(conference, given.user) else ("not_chair", "Only the chair can hold others")
    if leg.held_by_chair:
        return None if _is_chair(conference, given.user) else ("not_chair", "Only the chair can take them off hold")
    return None if own else ("held_by_self", f"{leg.destination} put the call on hold themselves")


def _complete_transfer(conference: Conference, given: CompleteTransfer) -> Decision:
    if not _is_chair(conference, given.user):
        return Decision(conference, _refuse(given.user, "not_chair", "Only the chairperson can transfer the call"))
    held = conference.leg(given.leg_id) if conference.has_leg(given.leg_id) else None
    if held is None or held.ended or not held.held_by_chair:
        return Decision(conference, _refuse(given.user, "not_held", "Hold the person to transfer first"))
    chair = conference.chair
    others = [leg for leg in conference.live_legs() if leg.id not in (chair.id, held.id) and leg.hang_up_reason is None]
    if not others:
        return Decision(conference, _refuse(given.user, "nobody_to_transfer_to", "Add who to transfer them to first"))
    conference, stopped = _untaped(conference)
    conference = replace(conference, chair_leg_id=held.id).with_leg(replace(held, held=False, held_by_chair=False))
    commands = (
        *stopped,
        HoldLeg(conference.id, held.id, False, music=False),
        HangUpLeg(conference.id, chair.id, "transferred"),
    )
    return _settle(conference, commands)


def _hold_reported(conference: Conference, report: LegHoldChanged) -> Decision:
    """A telephone held itself (or came back): its own hold, out of the mix and hearing nothing of it."""
    if not conference.has_leg(report.leg_id):
        return Decision(conference)
    leg = conference.leg(report.leg_id)
    if leg.ended or leg.held == report.held or leg.held_by_chair:
        return Decision(conference)  # the chair's hold stays until the chair takes it off
    conference = conference.with_leg(replace(leg, held=report.held, held_by_chair=False))
    return _settle(conference, (HoldLeg(conference.id, leg.id, report.held, music=False),))


def _hold_failed(conference: Conference, report: LegHoldFailed) -> Decision:
    """The provider could not apply a hold: the leg is shown as the provider has it, and whoever asked is told.

    That is the chair for a participant it held (or tried to take off hold), else the leg's own user. Whose a
    hold was once taken off, only the provider still knows (`by_chair`).
    """
    if not conference.has_leg(report.leg_id):
        return Decision(conference)
    leg = conference.leg(report.leg_id)
    if leg.ended or leg.held == report.held:
        return Decision(conference)
    by_chair = leg.held_by_chair if leg.held else report.by_chair
    asked_by = conference.chair.destination if by_chair else leg.destination
    verb = "put on hold" if leg.held else "taken off hold"
    conference = conference.with_leg(replace(leg, held=report.held, held_by_chair=report.held and by_chair))
    refusal = _refuse(asked_by, "hold_failed", f"Hold failed: {leg.destination} could not be {verb}")
    return _settle(conference, refusal)


def holds_elsewhere(user: str, talking_on: str, conferences: Iterable[Conference]) -> tuple[tuple[str, Hold], ...]:
    """A user talks on one call at a time: once a leg of theirs talks, their live legs on other calls go on hold.

    As (conference id, Hold) pairs, for the shell to hand each to its own conference.
    """
    return tuple(
        (conference.id, Hold(user, leg.id, held=True))
        for conference in conferences
        if conference.id != talking_on
        for leg in conference.live_legs()
        if leg.destination == user and leg.kind == "browser" and leg.talking
    )


def started_talking(before: Conference | None, after: Conference) -> tuple[str, ...]:
    """The browser users whose leg on `after` talks now and did not before (connected, or taken off hold)."""
    was = {leg.id for leg in before.legs if leg.talking} if before is not None else set()
    return tuple(
        leg.destination for leg in after.live_legs() if leg.kind == "browser" and leg.talking and leg.id not in was
    )


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
    if conference.transfer is not None:
        return Decision(conference, _refuse(given.user, *_TRANSFER_PENDING))
    taping = Taping(given.recording_id, "call", _on_the_call(conference, (given.user,)))
    return _settle(_taping(conference, taping), (_start(conference, taping),))


def _on_the_call(conference: Conference, also: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The users who hear the call now (and those who already did): a recording's owners.

    Not a leg on hold: it is out of the mix, so out of the recording too.
    """
    heard = (leg.destination for leg in conference.live_legs() if leg.talking and leg.kind == "browser")
    return tuple(dict.fromkeys((*also, *heard)))


def _start(conference: Conference, taping: Taping) -> StartRecording:
    chair = conference.chair
    return StartRecording(conference.id, taping.id, taping.kind, taping.owners, chair.destination, chair.id)


def _stop(conference: Conference, taping: Taping) -> StopRecording:
    chair = conference.chair
    return StopRecording(conference.id, taping.id, taping.kind, taping.owners, chair.destination, chair.id)


def _to_voicemail(conference: Conference, leg: Leg) -> bool:
    """The callee of a call of two did not take it (not answered in time, rejected, busy, not disturbed) and has
    voicemail on.

    Only the call's own callee (`legs[1]`), never someone added later or a transfer's target (who has their own
    voicemail setting, and a transfer its recall). Not someone who is not online at all: in open mode any name is
    a user, and a typo would take a message.
    """
    if conference.voicemail_id is None or conference.taping is not None or leg.id != conference.legs[1].id:
        return False
    missed = leg.status in ("busy", "no-answer")
    others = [other for other in conference.live_legs() if other.id != conference.chair_leg_id]
    chair = conference.chair
    return missed and not others and chair.status == "in-progress" and chair.hang_up_reason is None


def _not_to_disturb(conference: Conference) -> bool:
    """The caller, connected, called someone who asked not to be disturbed and has voicemail (never rung)."""
    callee = conference.legs[1] if len(conference.legs) > 1 else None
    return callee is not None and callee.end_reason == "dnd" and conference.voicemail_id not in conference.recorded


def _not_disturbed(conference: Conference) -> tuple[Conference, tuple[Command, ...]]:
    """The caller leaves a message; or, if they cannot (already leaving), they are alone: the call ends."""
    callee = conference.legs[1]
    if _to_voicemail(conference, callee):
        return _take_voicemail(conference, callee)
    return conference, _after_leg_left(conference)


def _take_voicemail(conference: Conference, leg: Leg) -> tuple[Conference, tuple[Command, ...]]:
    assert conference.voicemail_id is not None
    taping = Taping(conference.voicemail_id, "voicemail", (leg.destination,))
    return _taping(conference, taping), (_start(conference, taping),)


def _untaped(conference: Conference) -> tuple[Conference, tuple[Command, ...]]:
    """A chair who hands the call on stops its recording: it was theirs to make, and it is stopped while they
    still chair, so the stop names their leg (Twilio records the chair's own call, which ends as they leave).
    """
    taping = conference.taping
    if taping is None:
        return conference, ()
    return replace(conference, taping=None), (_stop(conference, taping),)


def _taping(conference: Conference, taping: Taping) -> Conference:
    return replace(conference, taping=taping, recorded=(*conference.recorded, taping.id))


_TRANSFER_PENDING = ("transfer_pending", "Wait until the transfer has been answered")


def _transfer(conference: Conference, given: TransferCall) -> Decision:
    if given.party_leg_id is not None:
        return _transfer_out(conference, given)
    return _transfer_two(conference, given)


def _transfer_two(conference: Conference, given: TransferCall) -> Decision:
    """The other party waits on ringback while `to` rings; the transferor leaves at once.

    The conference stays, its legs swap: the transferred leg becomes the chair, so the
    call is its own from now on, and the chair-alone rule never sees it left alone while
    `to` rings (a chair with a ringing guest is not alone).
    """
    if conference.has_leg(given.leg_id):
        return Decision(conference)  # delivered again
    refusal = _transfer_refusal(conference, given)
    if refusal is not None:
        return Decision(conference, _refuse(given.user, *refusal))
    mine = conference.live_leg_of(given.user)
    assert mine is not None  # the refusal checked it
    other = next(leg for leg in conference.live_legs() if leg.id != mine.id)
    target = _new_leg(given.leg_id, given.to, given.telephones)
    by_chair = mine.id == conference.chair_leg_id
    transfer = Transfer(given.user, other.id, target.id, given.recall_leg_id, by_chair)
    conference, stopped = _untaped(conference)
    conference = replace(conference, chair_leg_id=other.id, legs=(*conference.legs, target), transfer=transfer)
    commands = (
        *stopped,
        HangUpLeg(conference.id, mine.id, "transferred"),
        PlayToLeg(conference.id, other.id, "ringback"),
        DialLeg(conference.id, target.id, target.destination, other.destination, auto_answer=False),
    )
    return _settle(conference, commands)


def _transfer_refusal(conference: Conference, given: TransferCall) -> tuple[str, str] | None:
    mine = conference.live_leg_of(given.user)
    if mine is None:
        return "not_on_call", "You are not on this call"
    if conference.transfer is not None:
        return "transfer_pending", "This call is already being transferred"
    # The chair's call; or, when a telephone called in (its leg chairs), the call of whoever took it.
    if not _is_chair(conference, given.user) and conference.chair.kind == "browser":
        return "not_chair", "Only the chairperson can transfer the call"
    live = conference.live_legs()
    if len(live) != 2 or any(leg.status != "in-progress" or leg.hang_up_reason is not None for leg in live):
        return "not_two_party", "Only a connected call of two can be transferred"
    if (refusal := _undialable(given.to, given.telephones)) is not None:
        return refusal
    if given.to == given.user:
        return "self_transfer", "You cannot transfer a call to yourself"
    if any(leg.destination == given.to for leg in live):
        return "already_in_conference", f"{given.to} is already on the call"
    return None


def _transfer_out(conference: Conference, given: TransferCall) -> Decision:
    """The chair hands one party of a larger call to `to`: the party leaves for a new call, the rest talk on.

    The party's leg moves (its id, its endpoint) rather than swapping legs as in a call of two: the chair
    stays, so the party needs a call of its own, and a leg is live in one conference at a time.
    """
    party_leg_id, new_id = given.party_leg_id, given.new_conference_id
    assert party_leg_id is not None
    if new_id in conference.spun_off:
        return Decision(conference)  # delivered again: the party has gone to it (or is back from it)
    refusal = _transfer_out_refusal(conference, given, party_leg_id, new_id)
    if refusal is not None:
        return Decision(conference, _refuse(given.user, *refusal))
    party = conference.leg(party_leg_id)
    assert new_id is not None  # the refusal checked it
    conference = replace(conference.with_leg(replace(party, left_for=new_id)), spun_off=(*conference.spun_off, new_id))
    arrives = TakeTransferred(new_id, party, conference.id, given.user, given.to, given.leg_id, given.telephones)
    return _settle(conference, (MoveLeg(conference.id, party.id, arrives),))


def _transfer_out_refusal(
    conference: Conference, given: TransferCall, party_leg_id: str, new_id: str | None
) -> tuple[str, str] | None:
    if conference.live_leg_of(given.user) is None:
        return "not_on_call", "You are not on this call"
    if not _is_chair(conference, given.user):
        return "not_chair", "Only the chairperson can transfer someone"
    if conference.transfer is not None:
        return _TRANSFER_PENDING
    party = conference.leg(party_leg_id) if conference.has_leg(party_leg_id) else None
    if party is None or party.ended or party.hang_up_reason is not None or party.id == conference.chair_leg_id:
        return "not_on_call", "They are not on this call"
    if party.status != "in-progress":
        return "not_connected", f"{party.destination} has not answered yet"
    if party.held:
        return "party_on_hold", f"Take {party.destination} off hold first"
    others = [leg for leg in conference.live_legs() if leg.id != party.id and leg.hang_up_reason is None]
    if len(others) < 2 or new_id is None:
        # Left with the chair alone, the call would end: a call of two transfers as one (the chair leaves).
        return "not_two_party", "Only a connected call of two can be transferred"
    if (refusal := _undialable(given.to, given.telephones)) is not None:
        return refusal
    if given.to == party.destination:
        return "self_transfer", f"You cannot transfer {party.destination} to themselves"
    if any(leg.destination == given.to for leg in conference.live_legs()):
        return "already_in_conference", f"{given.to} is already on the call"
    return None


def _take_transferred(given: TakeTransferred) -> Decision:
    """The party's new call: it chairs it, and hears ringback while the target rings."""
    party = replace(given.leg, left_for=None, muted=False, held=False, held_by_chair=False, hang_up_reason=None)
    target = _new_leg(given.target_leg_id, given.to, given.telephones)
    transfer = Transfer(given.by, party.id, target.id, "", by_chair=False, back_to=given.back_to)
    conference = Conference(given.conference_id, party.id, (party, target), transfer=transfer)
    commands = (
        PlayToLeg(conference.id, party.id, "ringback"),
        DialLeg(conference.id, target.id, target.destination, party.destination, auto_answer=False),
    )
    return _settle(conference, commands)


def _return(conference: Conference, given: ReturnLeg) -> Decision:
    """The party is back on its call (the transfer failed): a short tone, then the others again.

    Its call ended meanwhile: back, it is hung up, since there is nobody left to return to.
    """
    if not conference.has_leg(given.leg.id) or conference.leg(given.leg.id).left_for != given.from_conference_id:
        return Decision(conference)  # delivered again
    was = conference.leg(given.leg.id)
    # Heard by the others again: the mute it had here went with the media it left.
    back = replace(was, status=given.leg.status, sequence=given.leg.sequence, left_for=None, muted=False)
    ended = conference.ended
    conference = conference.with_leg(back)
    if back.ended:
        return _settle(conference, ())
    if ended:
        # Live again until the leg's end is reported: the call ends then, for its reason at that moment.
        conference = replace(conference, end_reason=None)
        return _settle(conference, (HangUpLeg(conference.id, back.id, "transfer-failed"),))
    return _settle(conference, (PlayToLeg(conference.id, back.id, "returned"),))


def _left(conference: Conference, leg_id: str) -> str | None:
    """Where the leg went, if it left this conference for another."""
    return conference.leg(leg_id).left_for if conference.has_leg(leg_id) else None


def _handed_on(report: Report, to: str) -> Publish:
    """The provider's word on a leg that has moved goes where the leg is now."""
    return Publish(report.model_copy(update={"conference_id": to}))


def _transfer_moved(conference: Conference, leg: Leg, transfer: Transfer) -> tuple[Conference, tuple[Command, ...]]:
    """The leg ringing for a transfer (its target, or the recall) has moved on."""
    waiting = conference.leg(transfer.leg_id)
    if leg.status == "in-progress":
        # Answered: the waiting party hears the call again. A chair who answers the recall chairs again.
        recalled = leg.id == transfer.recall_leg_id and transfer.by_chair
        chair = leg.id if recalled else conference.chair_leg_id
        return replace(conference, transfer=None, chair_leg_id=chair), (PlayToLeg(conference.id, waiting.id, None),)
    if not leg.ended:
        return conference, ()
    if waiting.hang_up_reason is not None:
        return replace(conference, transfer=None), _after_leg_left(conference)  # it is leaving: nobody to recall for
    if transfer.back_to is not None:
        # Out of a larger call: back to it, as the leg is now (its status, the sequence of its last report).
        back = ReturnLeg(transfer.back_to, waiting, conference.id)
        conference = replace(conference, transfer=None).with_leg(replace(waiting, left_for=transfer.back_to))
        return conference, (MoveLeg(conference.id, waiting.id, back),)
    if leg.id == transfer.target_leg_id:
        recall = Leg(transfer.recall_leg_id, transfer.by)
        conference = replace(conference, legs=(*conference.legs, recall), transfer=replace(transfer, recalling=True))
        dial = DialLeg(conference.id, recall.id, recall.destination, waiting.destination, auto_answer=False)
        return conference, (PlayToLeg(conference.id, waiting.id, "recall"), dial)
    return replace(conference, transfer=None), (HangUpLeg(conference.id, waiting.id, "transfer-failed"),)


def _press(conference: Conference, given: PressDigits) -> Decision:
    """Digits from someone on the call reach every telephone on it as tones, and every page as keys shown."""
    mine = conference.live_leg_of(given.user)
    if mine is None or mine.status != "in-progress":
        return Decision(
            conference, _refuse(given.user, "not_on_call", "Keys go to a call you are on, once it is answered")
        )
    tones = tuple(
        SendDigits(conference.id, leg.id, given.digits)
        for leg in conference.live_legs()
        if leg.kind != "browser" and leg.status == "in-progress" and leg.id != mine.id
    )
    shown = tuple(Publish(DigitPressed(conference_id=conference.id, leg_id=mine.id, digit=d)) for d in given.digits)
    return Decision(conference, tones + shown)


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
    transfer = conference.transfer
    if transfer is not None and updated.ended and leg.id == transfer.leg_id:
        conference = replace(conference, transfer=None)  # the transferred party left: nobody waits any more
    elif transfer is not None and leg.id in (transfer.target_leg_id, transfer.recall_leg_id):
        conference, commands = _transfer_moved(conference, updated, transfer)
        return _settle(conference, commands)
    if not is_chair and updated.status == "in-progress":
        conference = replace(conference, voicemail_id=None)  # answered: no longer a call to miss
    if leg.id in conference.ring_group and updated.status == "in-progress":
        conference, commands = _answered_by(conference, leg.id)
    elif is_chair and updated.status == "in-progress" and not was_connected:
        commands = _dial_queued(conference)
        if _not_to_disturb(conference):
            conference, commands = _not_disturbed(conference)
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
    if chair.end_reason == "transfer-failed":
        return "transfer-failed"
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
        if isinstance(command, LegCommand) and conference.has_leg(command.leg_id):
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

"""The call rules as one pure function: (conference, input) -> (conference, commands).

No I/O, no clock, no ids made up here: whatever varies comes in with the input,
so a list of inputs replays to the same commands every time (tests/rules).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from talkbox.events.models import CallRefused, ConferenceUpdated, LegStatusChanged
from talkbox.events.names import is_valid_destination
from talkbox.telephony.model import Conference, Leg

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


@dataclass(frozen=True)
class HangUp:
    user: str


RuleInput = StartCall | HangUp | LegStatusChanged

# --- commands ------------------------------------------------------------------


@dataclass(frozen=True)
class DialLeg:
    conference_id: str
    leg_id: str
    destination: str
    caller: str
    auto_answer: bool


@dataclass(frozen=True)
class HangUpLeg:
    conference_id: str
    leg_id: str
    reason: str


@dataclass(frozen=True)
class Publish:
    event: ConferenceUpdated | CallRefused


Command = DialLeg | HangUpLeg | Publish


@dataclass(frozen=True)
class Decision:
    conference: Conference | None
    commands: tuple[Command, ...] = ()


# --- the rules -------------------------------------------------------------------


def decide(conference: Conference | None, given: RuleInput) -> Decision:
    if isinstance(given, StartCall):
        return _start_call(given)
    if conference is None or conference.ended:
        return Decision(conference)
    if isinstance(given, HangUp):
        return _hang_up(conference, given.user)
    return _leg_status(conference, given)


def _start_call(given: StartCall) -> Decision:
    refusal = _refusal(given)
    if refusal is not None:
        code, message = refusal
        return Decision(None, (Publish(CallRefused(user=given.caller, code=code, message=message)),))
    conference = Conference(
        id=given.conference_id,
        chair_leg_id=given.chair_leg_id,
        legs=(Leg(given.chair_leg_id, given.caller), Leg(given.callee_leg_id, given.to)),
    )
    # The chair's own leg first: nobody is rung into an empty conference.
    dial = DialLeg(conference.id, given.chair_leg_id, given.caller, given.caller, auto_answer=True)
    return Decision(conference, (_updated(conference), dial))


def _refusal(given: StartCall) -> tuple[str, str] | None:
    if not is_valid_destination(given.to):
        return "invalid_destination", f"{given.to!r} is not a name or an E.164 number"
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


def _leg_status(conference: Conference, report: LegStatusChanged) -> Decision:
    if not conference.has_leg(report.leg_id):
        return Decision(conference)
    leg = conference.leg(report.leg_id)
    if leg.ended or report.sequence <= leg.sequence:
        return Decision(conference)  # late or repeated report
    was_connected = leg.status == "in-progress"
    updated = replace(leg, status=report.status, sequence=report.sequence, end_reason=report.reason)
    conference = conference.with_leg(updated)
    commands: tuple[Command, ...] = ()
    is_chair = leg.id == conference.chair_leg_id
    if is_chair and updated.status == "in-progress" and not was_connected:
        commands = _dial_queued(conference)
    elif updated.ended:
        if is_chair and not was_connected:
            conference = _cancel_undialled(conference, "chair-unreachable")
        commands = _after_leg_left(conference)
    return _settle(conference, commands)


def _dial_queued(conference: Conference) -> tuple[Command, ...]:
    caller = conference.chair.destination
    return tuple(
        DialLeg(conference.id, leg.id, leg.destination, caller, auto_answer=False)
        for leg in conference.legs
        if leg.status == "queued" and leg.id != conference.chair_leg_id
    )


def _cancel_undialled(conference: Conference, reason: str) -> Conference:
    for leg in conference.legs:
        if leg.status == "queued" and leg.id != conference.chair_leg_id:
            conference = conference.with_leg(replace(leg, status="canceled", end_reason=reason))
    return conference


def _after_leg_left(conference: Conference) -> tuple[Command, ...]:
    """Who else must go when a leg has left."""
    live = conference.live_legs()
    chair = conference.chair
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
    guests = [leg for leg in conference.legs if leg.id != chair.id]
    if any(leg.end_reason == "chair-unreachable" for leg in guests):
        return "chair-unreachable"
    if any(leg.status == "completed" for leg in guests):
        return "hung-up"
    first = guests[0].status if guests else "completed"
    if first == "failed" and guests[0].end_reason == "unavailable":
        return "unavailable"
    return {"completed": "hung-up"}.get(first, first)


def _updated(conference: Conference) -> Publish:
    return Publish(ConferenceUpdated(conference=conference.view(), users=conference.users()))

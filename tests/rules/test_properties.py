"""Property-based tests of the call rules: any sequence of inputs keeps the invariants.

The replay logs (test_two_party.py, test_conference.py) pin the outcomes we
thought of; this file lets hypothesis look for the ones we did not. A state
machine plays users, a shell and an honest provider against `decide`:

- users start calls, hang up, add, remove, mute, hold, resume, transfer and rejoin, in
  any order and on any conference (including ones they are not on); a chair transfers
  a party out of a call of more than two, and the shell moves its leg (`MoveLeg`) to the
  new call and back, and hands on the reports a conference passes on; a telephone
  holds itself; like the handler, the shell puts a user's other calls on hold as
  soon as one of their legs starts talking;
- the provider answers every DialLeg with a forward run of initiated / ringing
  / in-progress and maybe a terminal report, and every HangUpLeg with a
  terminal report, its reports delivered in any interleaving;
- anything may also arrive again (any earlier input, verbatim), and stray
  reports arrive for any leg, with any status and any sequence number, as a
  confused provider or a replayed webhook would send them.

The provider numbers its reports per leg, and a stray report's number counts
as the provider's own (it is the only source of numbers), so its later answers
are always newer: that is what makes "once the rules have had the chance to
act" checkable.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import get_args

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from talkbox.events.models import (
    TERMINAL_STATUSES,
    CallRefused,
    ConferenceUpdated,
    LegHoldChanged,
    LegHoldFailed,
    LegStatus,
    LegStatusChanged,
)
from talkbox.events.names import is_client_name
from talkbox.telephony.model import Conference, Leg
from talkbox.telephony.rules import (
    AddParticipant,
    CompleteTransfer,
    Decision,
    DialLeg,
    HangUp,
    HangUpLeg,
    Hold,
    IncomingCall,
    LegCommand,
    MoveLeg,
    Mute,
    PlayToLeg,
    PressDigits,
    Publish,
    Record,
    Rejoin,
    RemoveParticipant,
    Report,
    ReturnLeg,
    RuleInput,
    StartCall,
    StartRecording,
    StopRecording,
    TakeTransferred,
    TransferCall,
    decide,
    holds_elsewhere,
    started_talking,
)

USERS = ("alice", "bob", "carol")
DESTINATIONS = (*USERS, "dave", "+441234567890", "not a name")  # dave has no page: he never acts
STATUSES: tuple[LegStatus, ...] = get_args(LegStatus)
ENDINGS: tuple[LegStatus, ...] = tuple(s for s in STATUSES if s in TERMINAL_STATUSES)
PROGRESS: tuple[LegStatus, ...] = ("initiated", "ringing", "in-progress")
REASONS = (None, "hung-up", "ended", "rejected", "timeout", "unavailable", "media", "removed")
RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3, **{s: 4 for s in ENDINGS}}
LIVE_CONFERENCES = 2  # at a time; ended ones make room for more
ALL_CONFERENCES = 5


@dataclass(frozen=True)
class HangUpAnswer:
    """The provider's answer to a HangUpLeg: numbered when it is sent, newer than all it said before."""

    conference_id: str
    leg_id: str
    status: LegStatus
    reason: str


Pending = LegStatusChanged | HangUpAnswer


@dataclass
class Provider:
    """What an honest provider has promised to report, and its per-leg numbering."""

    pending: list[Pending] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)
    dialled: set[str] = field(default_factory=set)  # every leg the provider has held

    def number(self, leg_id: str, at_least: int = 0) -> int:
        self.numbers[leg_id] = max(self.numbers.get(leg_id, 0) + 1, at_least)
        return self.numbers[leg_id]

    def hang_ups_pending(self, conference_id: str | None = None) -> bool:
        return any(isinstance(p, HangUpAnswer) and conference_id in (None, p.conference_id) for p in self.pending)


class CallRules(RuleBasedStateMachine):
    """Users, the shell and an honest provider around `decide`, checking every step."""

    def __init__(self) -> None:
        super().__init__()
        self.conferences: dict[str, Conference] = {}
        self.history: list[tuple[str, RuleInput]] = []
        self.provider = Provider()
        self.ids = itertools.count(1)
        # Recordings the provider was asked to start, by id: their conference, and whether it was asked to stop.
        self.recordings: dict[str, tuple[str, bool]] = {}

    # --- users ------------------------------------------------------------------

    @precondition(lambda self: self.room_for_a_call())
    @rule(data=st.data(), caller=st.sampled_from(USERS), to=st.sampled_from(DESTINATIONS))
    def start_call(self, data: st.DataObject, caller: str, to: str) -> None:
        number = next(self.ids)
        calls = sum(1 for c in self.conferences.values() if c.live_leg_of(caller))
        voicemail = f"v-{number}" if data.draw(st.booleans(), label="the callee has voicemail") else None
        dnd = data.draw(st.booleans(), label="the callee does not want to be disturbed")
        given = StartCall(
            f"c-{number}",
            f"l-{number}-chair",
            f"l-{number}-callee",
            caller,
            to,
            calls,
            max_calls=2,
            voicemail_id=voicemail,
            callee_dnd=dnd,
        )
        self.apply(data, given.conference_id, given)

    @precondition(lambda self: self.room_for_a_call())
    @rule(data=st.data(), ring=st.lists(st.sampled_from(DESTINATIONS), max_size=3))
    def telephone_calls_in(self, data: st.DataObject, ring: list[str]) -> None:
        """The provider has answered a telephone and names its leg; the shell picks who rings."""
        number = next(self.ids)
        given = IncomingCall(
            conference_id=f"c-{number}",
            caller_leg_id=f"l-{number}-phone",
            caller="+441234567890",
            provider_id=f"CA{number}",
            ring=tuple((f"l-{number}-ring-{i}", name) for i, name in enumerate(ring)),
        )
        self.provider.dialled.add(given.caller_leg_id)
        if data.draw(st.booleans(), label="the telephone hangs up some time"):
            self.provider.pending.append(
                LegStatusChanged(
                    conference_id=given.conference_id,
                    leg_id=given.caller_leg_id,
                    status="completed",
                    sequence=self.provider.number(given.caller_leg_id),
                    reason="hung-up",
                )
            )
        self.apply(data, given.conference_id, given)

    @precondition(lambda self: self.conferences)
    @rule(data=st.data())
    def hang_up(self, data: st.DataObject) -> None:
        conference_id = self.some_conference(data)
        self.apply(data, conference_id, HangUp(self.someone(data, conference_id)))

    @precondition(lambda self: self.conferences)
    @rule(data=st.data(), to=st.sampled_from(DESTINATIONS), limit=st.integers(2, 5))
    def add(self, data: st.DataObject, to: str, limit: int) -> None:
        conference_id = self.some_conference(data)
        user = self.someone(data, conference_id)
        self.apply(data, conference_id, AddParticipant(user, to, f"l-{next(self.ids)}", limit))

    @precondition(lambda self: self.conferences)
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        conference_id = self.some_conference(data)
        user = self.someone(data, conference_id)
        self.apply(data, conference_id, RemoveParticipant(user, self.some_leg(data, conference_id)))

    @precondition(lambda self: self.conferences)
    @rule(data=st.data(), muted=st.booleans())
    def mute(self, data: st.DataObject, muted: bool) -> None:
        conference_id = self.some_conference(data)
        user = self.someone(data, conference_id)
        self.apply(data, conference_id, Mute(user, self.some_leg(data, conference_id), muted))

    @precondition(lambda self: self.conferences)
    @rule(data=st.data(), held=st.booleans())
    def hold(self, data: st.DataObject, held: bool) -> None:
        conference_id = self.some_conference(data)
        user = self.someone(data, conference_id)
        self.apply(data, conference_id, Hold(user, self.some_leg(data, conference_id), held))

    @precondition(lambda self: self.conferences)
    @rule(data=st.data())
    def complete_transfer(self, data: st.DataObject) -> None:
        conference_id = self.some_conference(data)
        user = self.someone(data, conference_id)
        self.apply(data, conference_id, CompleteTransfer(user, self.some_leg(data, conference_id)))

    @precondition(lambda self: self.conferences)
    @rule(data=st.data(), held=st.booleans())
    def a_telephone_holds_itself(self, data: st.DataObject, held: bool) -> None:
        conference_id = self.some_conference(data)
        report = LegHoldChanged(conference_id=conference_id, leg_id=self.some_leg(data, conference_id), held=held)
        self.apply(data, conference_id, report)

    @precondition(lambda self: self.conferences)
    @rule(data=st.data(), held=st.booleans(), by_chair=st.booleans())
    def the_provider_refuses_a_hold(self, data: st.DataObject, held: bool, by_chair: bool) -> None:
        conference_id = self.some_conference(data)
        leg_id = self.some_leg(data, conference_id)
        self.apply(
            data, conference_id, LegHoldFailed(conference_id=conference_id, leg_id=leg_id, held=held, by_chair=by_chair)
        )

    @precondition(lambda self: self.conferences)
    @rule(data=st.data())
    def rejoin(self, data: st.DataObject) -> None:
        conference_id = self.some_conference(data)
        self.apply(data, conference_id, Rejoin(self.someone(data, conference_id), f"l-{next(self.ids)}"))

    @precondition(lambda self: self.conferences)
    @rule(data=st.data(), on=st.booleans())
    def record(self, data: st.DataObject, on: bool) -> None:
        """Mostly the chair of a connected call, starting more often than stopping: else nothing is recorded."""
        connected = sorted(
            c.id for c in self.conferences.values() if c.chair.status == "in-progress" and c.chair.kind == "browser"
        )
        conference_id = data.draw(st.sampled_from(connected), label="conference") if connected else None
        if conference_id is None or data.draw(st.booleans(), label="someone else"):
            conference_id = self.some_conference(data)
        user = self.conferences[conference_id].chair.destination
        if not is_client_name(user) or data.draw(st.booleans(), label="not the chair"):
            user = self.someone(data, conference_id)
        on = on or data.draw(st.booleans(), label="start")
        self.apply(data, conference_id, Record(user, on, f"r-{next(self.ids)}"))

    @precondition(lambda self: self.conferences)
    @rule(data=st.data(), to=st.sampled_from(DESTINATIONS))
    def transfer(self, data: st.DataObject, to: str) -> None:
        conference_id = self.some_conference(data)
        user = self.someone(data, conference_id)
        number = next(self.ids)
        self.apply(data, conference_id, TransferCall(user, to, f"l-{number}", f"l-{number}-recall"))

    @precondition(lambda self: self.calls_of_two())
    @rule(data=st.data(), to=st.sampled_from(USERS))
    def transfer_a_call_of_two(self, data: st.DataObject, to: str) -> None:
        """Aimed at the calls a transfer can move (random users rarely find one connected)."""
        conference = self.conferences[data.draw(st.sampled_from(self.calls_of_two()), label="call of two")]
        browsers = [leg.destination for leg in conference.live_legs() if is_client_name(leg.destination)]
        user = data.draw(st.sampled_from(browsers), label="transferor")
        number = next(self.ids)
        self.apply(data, conference.id, TransferCall(user, to, f"l-{number}", f"l-{number}-recall"))

    @precondition(lambda self: self.room_for_a_call())
    @rule(data=st.data(), people=st.permutations(USERS))
    def a_three_way_call(self, data: st.DataObject, people: list[str]) -> None:
        """A call placed, someone added, and their progress reported in order: a call parties transfer out of.

        Random steps rarely connect three legs, and random reports may still end any of them.
        """
        chair, callee, third = people
        number = next(self.ids)
        conference_id = f"c-{number}"
        calls = sum(1 for c in self.conferences.values() if c.live_leg_of(chair))
        start = StartCall(conference_id, f"l-{number}-chair", f"l-{number}-callee", chair, callee, calls, max_calls=2)
        self.apply(data, conference_id, start)
        self.connect(data, conference_id)
        self.apply(data, conference_id, AddParticipant(chair, third, f"l-{number}-third", 5))
        self.connect(data, conference_id)

    @precondition(lambda self: self.larger_calls())
    @rule(data=st.data(), to=st.sampled_from(DESTINATIONS))
    def transfer_out_of_a_larger_call(self, data: st.DataObject, to: str) -> None:
        """The chair (mostly) hands a party (mostly a connected guest) of a call of three or more to someone (mostly
        not on it), in a new call."""
        conference = self.conferences[data.draw(st.sampled_from(self.larger_calls()), label="larger call")]
        user = conference.chair.destination
        if data.draw(st.sampled_from((False, False, True)), label="not the chair"):
            user = self.someone(data, conference.id)
        guests = [
            leg.id
            for leg in conference.live_legs()
            if leg.status == "in-progress" and leg.id != conference.chair_leg_id
        ]
        anyone = [leg.id for leg in conference.legs]
        party = data.draw(st.sampled_from(sorted([*guests, *guests, *guests, *anyone])), label="party")
        away = [name for name in DESTINATIONS if conference.live_leg_of(name) is None]
        to = data.draw(st.sampled_from([*away, *away, to]), label="to")
        number = next(self.ids)
        given = TransferCall(user, to, f"l-{number}", f"l-{number}-recall", None, party, f"c-{number}")
        refusals = [
            c.event.code
            for c in decide(conference, given).commands
            if isinstance(c, Publish) and isinstance(c.event, CallRefused)
        ]
        event(f"a transfer out of a larger call: {refusals[0] if refusals else 'made'}")
        self.apply(data, conference.id, given)

    @precondition(lambda self: self.conferences)
    @rule(data=st.data(), digits=st.sampled_from(("1", "*#", "0123456789")))
    def press_digits(self, data: st.DataObject, digits: str) -> None:
        conference_id = self.some_conference(data)
        self.apply(data, conference_id, PressDigits(self.someone(data, conference_id), digits))

    # --- the provider and the network ------------------------------------------------

    @precondition(lambda self: self.provider.pending)
    @rule(data=st.data())
    def provider_reports(self, data: st.DataObject) -> None:
        """Any promised report, in any order: reports overtake each other on the way."""
        index = data.draw(st.integers(0, len(self.provider.pending) - 1), label="pending")
        self.deliver(data, self.provider.pending.pop(index))

    @precondition(lambda self: any(isinstance(p, LegStatusChanged) for p in self.provider.pending))
    @rule(data=st.data())
    def a_call_connects(self, data: st.DataObject) -> None:
        """One conference's progress reports, in order: calls that connect, for the rules that need one (transfer)."""
        conferences = sorted({p.conference_id for p in self.provider.pending if isinstance(p, LegStatusChanged)})
        self.connect(data, data.draw(st.sampled_from(conferences), label="connects"))

    def connect(self, data: st.DataObject, conference_id: str) -> None:
        for pending in [p for p in self.provider.pending if p.conference_id == conference_id]:
            if (
                isinstance(pending, LegStatusChanged)
                and pending.status in PROGRESS
                and pending in self.provider.pending
            ):
                self.provider.pending.remove(pending)
                self.deliver(data, pending)

    @rule(data=st.data())
    def provider_catches_up(self, data: st.DataObject) -> None:
        """Every hang-up answered: now nobody may be left alone on a call."""
        self.answer_hang_ups(data)
        self.no_one_left_alone()

    @precondition(lambda self: any(not c.ended for c in self.conferences.values()))
    @rule(data=st.data(), status=st.sampled_from(ENDINGS), reason=st.sampled_from(REASONS))
    def a_leg_drops(self, data: st.DataObject, status: LegStatus, reason: str | None) -> None:
        """The provider loses a live leg (media failed, the page closed): a terminal report, numbered honestly."""
        live = sorted((c.id, leg.id) for c in self.conferences.values() for leg in c.live_legs())
        conference_id, leg_id = data.draw(st.sampled_from(live), label="drops")
        report = LegStatusChanged(
            conference_id=conference_id,
            leg_id=leg_id,
            status=status,
            sequence=self.provider.number(leg_id),
            reason=reason,
        )
        self.apply(data, conference_id, report)

    @precondition(lambda self: self.conferences)
    @rule(
        data=st.data(),
        status=st.sampled_from(STATUSES),
        sequence=st.integers(0, 40),
        reason=st.sampled_from(REASONS),
    )
    def stray_report(self, data: st.DataObject, status: LegStatus, sequence: int, reason: str | None) -> None:
        """A report about any leg, possibly naming the wrong conference, with any number."""
        conference_id = data.draw(st.sampled_from([*self.conferences, "c-nowhere"]), label="conference")
        leg_id = self.some_leg(data, conference_id)
        self.provider.number(leg_id, at_least=sequence)
        report = LegStatusChanged(
            conference_id=conference_id, leg_id=leg_id, status=status, sequence=sequence, reason=reason
        )
        self.apply(data, conference_id, report)

    @precondition(lambda self: self.history)
    @rule(data=st.data())
    def something_arrives_again(self, data: st.DataObject) -> None:
        """At-least-once delivery: any earlier input, verbatim, to the conference it went to."""
        conference_id, given = data.draw(st.sampled_from(self.history), label="again")
        self.apply(data, conference_id, given)

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def a_leg_is_in_one_conference_at_a_time(self) -> None:
        """A leg is on the one conference it has not left; each it left names where it went, and holds it there.

        And its status there is at least what any conference it left last saw: statuses only go forward.
        """
        copies: dict[str, list[tuple[Conference, Leg]]] = {}
        for conference in self.conferences.values():
            for leg in conference.legs:
                copies.setdefault(leg.id, []).append((conference, leg))
        for leg_id, found in copies.items():
            here = [(c, leg) for c, leg in found if leg.left_for is None]
            assert len(here) == 1, (leg_id, found)
            (_, current) = here[0]
            for conference, leg in found:
                if leg.left_for is not None:
                    assert self.conferences[leg.left_for].has_leg(leg_id), (conference, leg)
                    assert RANK[current.status] >= RANK[leg.status], found

    @invariant()
    def a_conference_ends_exactly_when_all_its_legs_have(self) -> None:
        for conference in self.conferences.values():
            assert conference.has_leg(conference.chair_leg_id)
            assert (conference.end_reason is not None) == all(leg.ended for leg in conference.legs), conference
            assert conference.view().status == ("ended" if conference.ended else "active")

    @invariant()
    def a_recording_runs_exactly_while_its_call_does_and_is_the_one_shown(self) -> None:
        for conference in self.conferences.values():
            running = [r for r, (c, stopped) in self.recordings.items() if c == conference.id and not stopped]
            taping = conference.taping
            assert running == ([taping.id] if taping is not None else []), (conference, running)
            assert taping is None or not conference.ended
            if taping is not None and taping.kind == "voicemail":
                assert [leg.id for leg in conference.live_legs()] == [conference.chair_leg_id]

    @invariant()
    def a_user_talks_on_one_call_at_a_time(self) -> None:
        """At most one live leg of each user is connected and off hold, across all their conferences.

        Not counting a leg Talkbox has asked to hang up: a transferor's own leg may still await the report of its
        end when the recall rings them again and they answer.
        """
        talking = [
            leg.destination
            for c in self.conferences.values()
            for leg in c.live_legs()
            if leg.talking and leg.hang_up_reason is None
        ]
        browsers = [name for name in talking if is_client_name(name)]
        assert len(browsers) == len(set(browsers)), self.conferences

    @invariant()
    def held_by_the_chair_means_held(self) -> None:
        for conference in self.conferences.values():
            for leg in conference.legs:
                assert leg.held or not leg.held_by_chair, leg

    @invariant()
    def a_transfer_waits_on_a_live_chair_for_a_leg_of_its_own(self) -> None:
        """While a transfer is under way, the party it moves is the chair and live, and one leg rings for it."""
        for conference in self.conferences.values():
            transfer = conference.transfer
            if transfer is None:
                continue
            assert not conference.ended
            assert conference.chair_leg_id == transfer.leg_id
            assert not conference.chair.ended, conference
            ringing = transfer.recall_leg_id if transfer.recalling else transfer.target_leg_id
            assert conference.has_leg(ringing)
            assert conference.leg(ringing).status != "in-progress", conference
            assert conference.has_leg(transfer.recall_leg_id) == transfer.recalling

    @invariant()
    def no_one_left_alone_once_hang_ups_are_answered(self) -> None:
        for conference in self.conferences.values():
            if not self.provider.hang_ups_pending(conference.id):
                self.check_not_alone(conference)

    def teardown(self) -> None:
        self.answer_hang_ups(None)
        self.no_one_left_alone()

    # --- the shell: apply one input and check the step ----------------------------------

    def apply(self, data: st.DataObject | None, conference_id: str, given: RuleInput) -> None:
        """As the handler does: load the conference the input names, decide, keep, act."""
        before = self.conferences.get(conference_id)
        decision = decide(before, given)
        check_step(before, given, decision, self.provider.dialled)
        self.history.append((conference_id, given))
        if decision.conference is not None:
            self.conferences[decision.conference.id] = decision.conference
        for command in decision.commands:
            self.carry_out(data, command)
        if decision.conference is not None:
            self.hold_other_calls(data, before, decision.conference)

    def hold_other_calls(self, data: st.DataObject | None, before: Conference | None, after: Conference) -> None:
        """The handler's step after each change: whoever started talking here is held everywhere else."""
        for user in started_talking(before, after):
            for conference_id, hold in holds_elsewhere(user, after.id, list(self.conferences.values())):
                self.apply(data, conference_id, hold)

    def carry_out(self, data: st.DataObject | None, command: object) -> None:
        if isinstance(command, StartRecording):
            assert command.recording_id not in self.recordings, f"started twice: {command}"
            running = [r for r, (c, stopped) in self.recordings.items() if c == command.conference_id and not stopped]
            assert not running, f"a second recording of one call: {command}"
            self.recordings[command.recording_id] = (command.conference_id, False)
        elif isinstance(command, StopRecording):
            assert self.recordings.get(command.recording_id) == (command.conference_id, False), command
            self.recordings[command.recording_id] = (command.conference_id, True)
        elif isinstance(command, DialLeg):
            self.provider.dialled.add(command.leg_id)
            self.provider.pending.extend(self.dial_reports(data, command))
        elif isinstance(command, HangUpLeg):
            status = "completed" if data is None else data.draw(st.sampled_from(("completed", "canceled")))
            self.provider.pending.append(HangUpAnswer(command.conference_id, command.leg_id, status, command.reason))
        elif isinstance(command, MoveLeg):
            event(f"a leg moved: {type(command.then).__name__}")  # --hypothesis-show-statistics counts them
            self.apply(data, command.then.conference_id, command.then)  # the handler hands it on at once
        elif isinstance(command, Publish) and isinstance(command.event, Report):
            self.apply(data, command.event.conference_id, command.event)  # through the bus, to where the leg is

    def dial_reports(self, data: st.DataObject | None, command: DialLeg) -> list[LegStatusChanged]:
        """A forward run of progress, perhaps an ending, numbered as the provider sends them."""
        if data is None:
            return []
        # Mostly a leg that gets somewhere: calls that die at once find nothing.
        steps = [s for s in PROGRESS if data.draw(st.sampled_from((True, True, False)), label=f"reports {s}")]
        ending = data.draw(st.sampled_from((None, None, None, None, *ENDINGS)), label="ending")
        steps += [ending] if ending is not None else []
        return [
            LegStatusChanged(
                conference_id=command.conference_id,
                leg_id=command.leg_id,
                status=status,
                sequence=self.provider.number(command.leg_id),
                reason=None if status in PROGRESS else "timeout",
            )
            for status in steps
        ]

    def deliver(self, data: st.DataObject | None, pending: Pending) -> None:
        if isinstance(pending, HangUpAnswer):
            pending = LegStatusChanged(
                conference_id=pending.conference_id,
                leg_id=pending.leg_id,
                status=pending.status,
                sequence=self.provider.number(pending.leg_id),
                reason=pending.reason,
            )
        self.apply(data, pending.conference_id, pending)

    def answer_hang_ups(self, data: st.DataObject | None) -> None:
        while self.provider.hang_ups_pending():
            answer = next(p for p in self.provider.pending if isinstance(p, HangUpAnswer))
            self.provider.pending.remove(answer)
            self.deliver(data, answer)

    def no_one_left_alone(self) -> None:
        for conference in self.conferences.values():
            self.check_not_alone(conference)

    @staticmethod
    def check_not_alone(conference: Conference) -> None:
        """The chair alone, or one guest whose chair has gone: the rules must have ended it.

        Unless the chair is leaving a voicemail (or connecting to): alone by design, until they hang up (or hit
        the cap).
        """
        live = conference.live_legs()
        leaving_a_message = conference.taping is not None and conference.taping.kind == "voicemail"
        # Or connecting to leave one: the callee did not want to be disturbed, so was never rung.
        to_leave_one = conference.voicemail_id is not None and conference.chair.status != "in-progress"
        to_leave_one = to_leave_one and conference.legs[1].end_reason == "dnd"
        assert conference.ended or len(live) >= 2 or leaving_a_message or to_leave_one, f"left alone: {conference}"

    # --- choices ---------------------------------------------------------------------------

    def larger_calls(self) -> list[str]:
        """Calls of three or more a user chairs, connected: those a party can be transferred out of."""
        return sorted(
            c.id
            for c in self.conferences.values()
            if len(c.live_legs()) >= 3 and c.chair.kind == "browser" and c.chair.talking
        )

    def calls_of_two(self) -> list[str]:
        return sorted(
            c.id
            for c in self.conferences.values()
            if len(c.live_legs()) == 2 and all(leg.status == "in-progress" for leg in c.live_legs())
        )

    def room_for_a_call(self) -> bool:
        live = [c for c in self.conferences.values() if not c.ended]
        return len(live) < LIVE_CONFERENCES and len(self.conferences) < ALL_CONFERENCES

    def some_conference(self, data: st.DataObject) -> str:
        """Any conference, a live one more often: an ended one answers everything with nothing."""
        live = [c.id for c in self.conferences.values() if not c.ended]
        return data.draw(st.sampled_from(sorted([*self.conferences, *live, *live])), label="conference")

    def someone(self, data: st.DataObject, conference_id: str) -> str:
        """Anyone with a page, those on the conference (its chair most) more often.

        A telephone has no page: it never hangs up, adds or rejoins through one
        (its hanging up is a provider report).
        """
        conference = self.conferences.get(conference_id)
        on_it = [leg.destination for leg in conference.legs] if conference else []
        chair = [conference.chair.destination] * 2 if conference else []
        people = [name for name in (*USERS, *on_it, *chair) if is_client_name(name)]
        return data.draw(st.sampled_from(people), label="user")

    def some_leg(self, data: st.DataObject, conference_id: str) -> str:
        """Any leg of any conference (of this one more often), or one nobody has heard of."""
        known = sorted(leg.id for c in self.conferences.values() for leg in c.legs)
        conference = self.conferences.get(conference_id)
        own = [leg.id for leg in conference.legs] if conference else []
        return data.draw(st.sampled_from([*known, *own, *own, "l-nowhere"]), label="leg")


def check_step(before: Conference | None, given: RuleInput, decision: Decision, dialled: set[str]) -> None:
    """What must hold of any one decision, whatever came before it."""
    after = decision.conference
    handed_on = _handed_on(before, given)
    if handed_on is not None:
        # About a leg that left: passed on to where it went, and nothing else.
        forwarded = given.model_copy(update={"conference_id": handed_on})  # type: ignore[union-attr]
        assert decision == Decision(before, (Publish(forwarded),)), decision
        return
    coming_back = isinstance(given, ReturnLeg)  # even to an ended call: the leg is back, and hung up there
    if before is not None and not coming_back and (before.ended or isinstance(given, StartCall | IncomingCall)):
        assert decision == Decision(before), "an ended conference, or a call started again, changes nothing"
    if isinstance(given, TakeTransferred) and before is not None:
        assert decision == Decision(before), "a new call delivered again changes nothing"
    if isinstance(given, LegStatusChanged):
        check_report(before, given, decision)
    if before is not None:
        assert after is not None
        check_history_kept(before, after, given, dialled)
    if after is not None:
        check_commands(after, decision, dialled)
    check_published(before, after, decision)


def _handed_on(before: Conference | None, given: RuleInput) -> str | None:
    """Where a report about a leg that left this conference goes."""
    if before is None or not isinstance(given, Report) or not before.has_leg(given.leg_id):
        return None
    return before.leg(given.leg_id).left_for


def check_report(before: Conference | None, report: LegStatusChanged, decision: Decision) -> None:
    """A repeated, late or misdirected report changes nothing; an accepted one sets the leg."""
    leg = before.leg(report.leg_id) if before is not None and before.has_leg(report.leg_id) else None
    stale = (
        leg is None
        or before is None
        or report.conference_id != before.id
        or leg.ended
        or report.sequence <= leg.sequence
        or RANK[report.status] < RANK[leg.status]
    )
    if stale:
        assert decision == Decision(before), f"a stale report changed something: {report}"
        return
    assert decision.conference is not None
    now = decision.conference.leg(report.leg_id)
    assert (now.status, now.sequence) == (report.status, report.sequence)


def check_history_kept(before: Conference, after: Conference, given: RuleInput, dialled: set[str]) -> None:
    """Legs are only ever added; an ended leg never changes; a leg never goes backwards."""
    assert after.id == before.id
    assert [leg.id for leg in after.legs[: len(before.legs)]] == [leg.id for leg in before.legs]
    reported = given.leg_id if isinstance(given, LegStatusChanged) else None
    for old, new in zip(before.legs, after.legs, strict=False):
        if new.held != old.held:
            assert isinstance(given, Hold | LegHoldChanged | LegHoldFailed | CompleteTransfer), f"a hold by {given}"
            assert given.leg_id == new.id
        if old.left_for is not None and new.left_for is None:
            assert isinstance(given, ReturnLeg) and given.leg.id == new.id, f"back without coming back: {given}"
        elif old.ended:
            assert new == old, f"an ended leg came back to life: {old} -> {new}"
        assert RANK[new.status] >= RANK[old.status], f"a leg went backwards: {old} -> {new}"
        if new.left_for is not None and old.left_for is None:
            assert isinstance(given, TransferCall | LegStatusChanged), f"a leg moved by {given}"
        elif new.ended and not old.ended and new.id != reported:
            # The rules may only end by themselves a leg the provider never had.
            assert new.id not in dialled, f"a dialled leg ended without the provider: {new}"


def check_commands(after: Conference, decision: Decision, dialled: set[str]) -> None:
    """Commands name this conference's live legs; each leg is dialled once, and only while queued."""
    for command in decision.commands:
        if isinstance(command, MoveLeg):
            # The leg has left for where it is moved, and its status goes there with it.
            leg = after.leg(command.leg_id)
            assert leg.left_for == command.then.conference_id, command
            assert (command.then.leg.status, command.then.leg.sequence) == (leg.status, leg.sequence), command
        elif isinstance(command, LegCommand):
            assert command.conference_id == after.id
            assert after.has_leg(command.leg_id), command
            assert not after.leg(command.leg_id).ended, f"a command for an ended leg: {command}"
        if isinstance(command, DialLeg):
            leg = after.leg(command.leg_id)
            assert command.leg_id not in dialled, f"dialled twice: {command}"
            assert leg.status == "queued", command
            assert leg.hang_up_reason is None, f"dialled while being hung up: {command}"
        if isinstance(command, PlayToLeg) and command.sound == "returned":
            assert decision.conference is not None and decision.conference.transfer is None, command
        elif isinstance(command, PlayToLeg):
            # Only the party a transfer moves hears a sound instead of the call, and only while it is under way.
            waiting = (decision.conference.transfer if decision.conference else None) is not None
            assert waiting == (command.sound is not None), command


def check_published(before: Conference | None, after: Conference | None, decision: Decision) -> None:
    """One ConferenceUpdated whenever what the pages see changed, and it is the state returned.

    (Bookkeeping the pages never see, such as why Talkbox asked a leg to hang up,
    may change without one.)
    """
    updates = [c.event for c in decision.commands if isinstance(c, Publish) and isinstance(c.event, ConferenceUpdated)]
    seen = after is not None and (before is None or after.view() != before.view())
    assert len(updates) == 1 if seen else len(updates) <= 1, (before, after, decision.commands)
    for update in updates:
        assert after is not None
        assert update.conference == after.view()
        # The members after, and those before: a user whose leg just ended is told so, and no more.
        members = before.members() if before is not None else ()
        assert set(update.users) == set(members) | set(after.members())
    for command in decision.commands:
        if isinstance(command, Publish) and isinstance(command.event, CallRefused):
            if command.event.code == "hold_failed":
                # Not a request refused but a hold undone: the leg goes back to what the provider has.
                assert after is not None and before is not None and after.view() != before.view()
                continue
            assert after == before or before is None, "a refusal changes nothing"


TestCallRules = CallRules.TestCase
TestCallRules.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

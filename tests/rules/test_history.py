"""A call's record in each person's history, from the conference's updates (telephony/history.py)."""

from __future__ import annotations

from talkbox.events.models import CallNotDisturbed, ConferenceView, LegView
from talkbox.telephony.history import not_disturbed, recorded
from talkbox.telephony.people import CallRecord


def view(status: str, *legs: tuple[str, str, str | None], chair: str = "alice") -> ConferenceView:
    return ConferenceView(
        id="c-1",
        chair=chair,
        status=status,  # type: ignore[arg-type]
        legs=tuple(
            LegView(id=f"l-{name}", destination=name, status=leg_status, end_reason=reason)  # type: ignore[arg-type]
            for name, leg_status, reason in legs
        ),
    )


def replay(*steps: tuple[float, ConferenceView, tuple[str, ...]]) -> dict[str, CallRecord]:
    """Each update in turn, with the records kept so far; what each person's record is at the end."""
    kept: dict[str, CallRecord] = {}
    for now, conference, told in steps:
        for record in recorded(conference, told, now, kept):
            kept[record.user] = record
    return kept


def test_an_answered_call_has_its_times_and_who_hung_up() -> None:
    kept = replay(
        (1.0, view("active", ("alice", "queued", None), ("bob", "queued", None)), ("alice",)),
        (2.0, view("active", ("alice", "in-progress", None), ("bob", "ringing", None)), ("alice", "bob")),
        (5.0, view("active", ("alice", "in-progress", None), ("bob", "in-progress", None)), ("alice", "bob")),
        (65.0, view("ended", ("alice", "completed", "ended"), ("bob", "completed", "hung-up")), ("alice", "bob")),
    )
    assert kept["alice"] == CallRecord("alice", "c-1", "outgoing", ("bob",), 1.0, 5.0, 65.0, "answered", "ended")
    assert kept["bob"] == CallRecord("bob", "c-1", "incoming", ("alice",), 2.0, 5.0, 65.0, "answered", "hung-up")


def test_a_rejected_call_is_rejected_for_both() -> None:
    kept = replay(
        (1.0, view("active", ("alice", "in-progress", None), ("bob", "ringing", None)), ("alice", "bob")),
        (3.0, view("ended", ("alice", "completed", "caller-canceled"), ("bob", "busy", "rejected")), ("alice", "bob")),
    )
    assert (kept["alice"].outcome, kept["alice"].end_reason) == ("rejected", "rejected")
    assert (kept["bob"].outcome, kept["bob"].answered_at) == ("rejected", None)


def test_a_call_nobody_answered_is_missed_by_the_callee_and_unanswered_by_the_caller() -> None:
    kept = replay(
        (1.0, view("active", ("alice", "in-progress", None), ("bob", "ringing", None)), ("alice", "bob")),
        (31.0, view("ended", ("alice", "completed", "ended"), ("bob", "no-answer", "timeout")), ("alice", "bob")),
    )
    assert kept["alice"].outcome == "unanswered"
    assert kept["bob"].missed and kept["bob"].ended_at == 31.0


def test_someone_never_rung_has_no_record_of_it() -> None:
    kept = replay(
        (1.0, view("active", ("alice", "queued", None), ("bob", "queued", None)), ("alice",)),
        (2.0, view("ended", ("alice", "failed", "microphone"), ("bob", "canceled", "chair-unreachable")), ("alice",)),
    )
    assert set(kept) == {"alice"} and kept["alice"].outcome == "failed"


def test_an_update_handled_twice_changes_nothing() -> None:
    ringing = view("active", ("alice", "in-progress", None), ("bob", "ringing", None))
    kept = replay((1.0, ringing, ("alice", "bob")))
    assert recorded(ringing, ("alice", "bob"), 9.0, kept) == []


def test_a_telephone_caller_is_the_peer_of_whoever_it_rang() -> None:
    phone = ConferenceView(
        id="c-1",
        chair="+441234567890",
        status="ended",
        legs=(
            LegView(id="l-p", destination="+441234567890", status="completed", kind="sip", end_reason="hung-up"),
            LegView(id="l-b", destination="bob", status="canceled", end_reason="caller-canceled"),
        ),
    )
    [bob] = recorded(phone, ("bob",), 1.0, {})
    assert (bob.user, bob.direction, bob.peers, bob.outcome) == ("bob", "incoming", ("+441234567890",), "missed")


def test_a_call_refused_for_do_not_disturb_is_missed_by_the_callee_once() -> None:
    refused = CallNotDisturbed(conference_id="c-1", caller="alice", callee="bob")
    alice, bob = not_disturbed(refused, 5.0, {})
    assert (alice.user, alice.direction, alice.outcome, alice.end_reason) == ("alice", "outgoing", "busy", "dnd")
    assert (bob.user, bob.direction, bob.outcome, bob.started_at) == ("bob", "incoming", "missed", 5.0)
    assert not_disturbed(refused, 9.0, {"alice": alice, "bob": bob}) == []  # delivered again


def test_a_call_to_do_not_disturb_that_went_to_voicemail_is_busy_for_the_caller_and_missed_by_the_callee() -> None:
    refused = CallNotDisturbed(conference_id="c-1", caller="alice", callee="bob")
    kept = replay((1.0, view("active", ("alice", "queued", None), ("bob", "busy", "dnd")), ("alice",)))
    for record in not_disturbed(refused, 1.0, kept):
        kept[record.user] = record
    for now, conference in (
        (2.0, view("active", ("alice", "in-progress", None), ("bob", "busy", "dnd"))),
        (30.0, view("ended", ("alice", "completed", "hung-up"), ("bob", "busy", "dnd"))),
    ):
        for record in recorded(conference, ("alice",), now, kept):
            kept[record.user] = record
    assert (kept["alice"].outcome, kept["alice"].end_reason, kept["alice"].ended_at) == ("busy", "dnd", 30.0)
    assert (kept["bob"].outcome, kept["bob"].end_reason) == ("missed", "dnd")

"""Replay logs of a blind transfer, and of keypad digits sent during a call.

alice and bob talk; alice transfers bob to carol. The conference stays and its
legs swap: alice's leg is hung up at once, bob (now the chair) hears ringback
while carol rings. If carol does not answer, bob hears the failed-transfer tone
and alice is rung again; if she does not answer either, bob's call ends.
"""

from __future__ import annotations

from talkbox.events.models import LegStatusChanged
from talkbox.telephony.rules import IncomingCall, decide
from tests.rules.replay import CONFERENCE, Reports, add, call, hang_up, press, replay, summarise, transfer
from tests.rules.test_two_party import connected_call

Q, I, R, P = "queued", "initiated", "ringing", "in-progress"
PHONE = "+441234567890"
RINGING = "active transfer to carol ringing"
RECALLING = "active transfer to carol recalling"
GONE = "completed:transferred"


def transferred(report: Reports) -> list:
    return connected_call(report) + [
        (
            transfer("carol"),
            [
                ("updated", RINGING, {"alice": P, "bob": P, "carol": Q}),
                ("hang_up", "alice", "transferred"),
                ("play", "bob", "ringback"),
                ("dial", "carol"),
            ],
        ),
        # alice's page goes idle as soon as her leg ends; the chair-alone rule leaves bob be: carol rings.
        (report("alice", "completed", "ended"), [("updated", RINGING, {"alice": GONE, "bob": P, "carol": Q})]),
        (report("carol", R), [("updated", RINGING, {"alice": GONE, "bob": P, "carol": R})]),
    ]


def test_carol_answers_and_bob_hears_her_instead_of_ringback() -> None:
    report = Reports()
    conference = replay(
        transferred(report)
        + [
            (
                report("carol", P),
                [("updated", "active", {"alice": GONE, "bob": P, "carol": P}), ("play", "bob", "the call")],
            ),
            (hang_up("carol"), [("hang_up", "carol", "hung-up")]),
            (
                report("carol", "completed"),
                [
                    ("updated", "active", {"alice": GONE, "bob": P, "carol": "completed:hung-up"}),
                    ("hang_up", "bob", "ended"),
                ],
            ),
        ]
    )
    assert conference is not None and conference.chair.destination == "bob"


def test_alice_is_no_member_once_her_leg_ended_and_bob_is_one_throughout() -> None:
    report = Reports()
    conference = replay(transferred(report))
    assert conference is not None
    assert conference.members() == ("bob", "carol")


def test_carol_does_not_answer_so_bob_hears_the_tone_and_alice_is_rung_again() -> None:
    report = Reports()
    conference = replay(
        transferred(report)
        + [
            (
                report("carol", "no-answer", "timeout"),
                [
                    ("updated", RECALLING, {"alice": GONE, "bob": P, "carol": "no-answer:timeout", "alice again": Q}),
                    ("play", "bob", "recall"),
                    ("dial", "alice"),
                ],
            ),
            (
                report("alice again", R),
                [("updated", RECALLING, {"alice": GONE, "bob": P, "carol": "no-answer:timeout", "alice again": R})],
            ),
            (
                report("alice again", P),
                [
                    ("updated", "active", {"alice": GONE, "bob": P, "carol": "no-answer:timeout", "alice again": P}),
                    ("play", "bob", "the call"),
                ],
            ),
        ]
    )
    # alice chairs her call again: she may transfer it once more.
    assert conference is not None and conference.chair.id == "l-alice-2"
    decision = decide(conference, transfer("dave"))
    assert [summarise(c, decision.conference) for c in decision.commands][1:] == [
        ("hang_up", "alice", "transferred"),
        ("play", "bob", "ringback"),
        ("dial", "dave"),
    ]
    assert decision.conference is not None and decision.conference.leg("l-alice-2").hang_up_reason == "transferred"


def test_carol_rejects_and_alice_does_not_answer_the_recall_so_bob_is_hung_up_with_the_reason() -> None:
    report = Reports()
    replay(
        transferred(report)
        + [
            (
                report("carol", "busy", "rejected"),
                [
                    ("updated", RECALLING, {"alice": GONE, "bob": P, "carol": "busy:rejected", "alice again": Q}),
                    ("play", "bob", "recall"),
                    ("dial", "alice"),
                ],
            ),
            (
                report("alice again", "no-answer", "timeout"),
                [
                    (
                        "updated",
                        "active",
                        {"alice": GONE, "bob": P, "carol": "busy:rejected", "alice again": "no-answer:timeout"},
                    ),
                    ("hang_up", "bob", "transfer-failed"),
                ],
            ),
            (
                report("bob", "completed"),
                [
                    (
                        "updated",
                        "ended:transfer-failed",
                        {
                            "alice": GONE,
                            "bob": "completed:transfer-failed",
                            "carol": "busy:rejected",
                            "alice again": "no-answer:timeout",
                        },
                    )
                ],
            ),
        ]
    )


def test_a_target_that_fails_before_alice_has_left_still_recalls_her() -> None:
    """carol is busy at once, before the report that alice's leg ended: bob is not left alone."""
    report = Reports()
    replay(
        connected_call(report)
        + [
            (
                transfer("carol"),
                [
                    ("updated", RINGING, {"alice": P, "bob": P, "carol": Q}),
                    ("hang_up", "alice", "transferred"),
                    ("play", "bob", "ringback"),
                    ("dial", "carol"),
                ],
            ),
            (
                report("carol", "busy", "in-another-call"),
                [
                    ("updated", RECALLING, {"alice": P, "bob": P, "carol": "busy:in-another-call", "alice again": Q}),
                    ("play", "bob", "recall"),
                    ("dial", "alice"),
                ],
            ),
            (
                report("alice", "completed"),
                [
                    (
                        "updated",
                        RECALLING,
                        {"alice": GONE, "bob": P, "carol": "busy:in-another-call", "alice again": Q},
                    )
                ],
            ),
        ]
    )


def test_bob_hangs_up_while_carol_rings_so_carol_stops_ringing() -> None:
    report = Reports()
    replay(
        transferred(report)
        + [
            (hang_up("bob"), [("hang_up", "bob", "hung-up")]),
            (
                report("bob", "completed"),
                [
                    ("updated", "active", {"alice": GONE, "bob": "completed:hung-up", "carol": R}),
                    ("hang_up", "carol", "caller-canceled"),
                ],
            ),
            (
                report("carol", "canceled"),
                [
                    (
                        "updated",
                        "ended:hung-up",
                        {"alice": GONE, "bob": "completed:hung-up", "carol": "canceled:caller-canceled"},
                    )
                ],
            ),
        ]
    )


def test_transfers_that_cannot_be_made_are_refused_and_change_nothing() -> None:
    report = Reports()
    steps = connected_call(report)
    replay(
        steps
        + [
            (transfer("carol", by="bob"), [("refused", "not_chair")]),
            (transfer("alice"), [("refused", "self_transfer")]),
            (transfer("bob"), [("refused", "already_in_conference")]),
            (transfer("not a name"), [("refused", "invalid_destination")]),
            (transfer(PHONE), [("refused", "no_telephones")]),
            (transfer("carol", by="dave"), [("refused", "not_on_call")]),
        ]
    )
    pending = transferred(Reports())
    replay(pending + [(transfer("dave", by="bob"), [("refused", "transfer_pending")])])
    replay(pending + [(add("dave", by="bob"), [("refused", "transfer_pending")])])


def test_only_a_connected_call_of_two_is_transferred() -> None:
    report = Reports()
    three = connected_call(report) + [
        (add("carol"), [("updated", "active", {"alice": P, "bob": P, "carol": Q}), ("dial", "carol")]),
    ]
    replay(three + [(transfer("dave"), [("refused", "not_two_party")])])
    ringing = [
        (call(), [("updated", "active", {"alice": Q, "bob": Q}), ("dial", "alice")]),
        (report("alice", P), [("updated", "active", {"alice": P, "bob": Q}), ("dial", "bob")]),
    ]
    replay(ringing + [(transfer("carol"), [("refused", "not_two_party")])])


def test_a_transfer_delivered_again_changes_nothing() -> None:
    report = Reports()
    steps = transferred(report)
    replay(steps + [(transfer("carol"), [])])


def test_whoever_took_a_telephone_s_call_may_transfer_it_and_the_telephone_waits_on_ringback() -> None:
    phone_leg, alice_leg = "l-CA1", "l-alice"
    given = IncomingCall(CONFERENCE, phone_leg, PHONE, "CA1", ((alice_leg, "alice"),), caller_kind="sip")

    def reported(leg_id: str, status: str, sequence: int, reason: str | None = None) -> LegStatusChanged:
        return LegStatusChanged(
            conference_id=CONFERENCE,
            leg_id=leg_id,
            status=status,  # type: ignore[arg-type]
            sequence=sequence,
            reason=reason,
        )

    replay(
        [
            (given, [("updated", "active", {PHONE: P, "alice": Q}), ("dial", "alice")]),
            (reported(alice_leg, P, 1), [("updated", "active", {PHONE: P, "alice": P})]),
            (
                transfer("carol"),
                [
                    ("updated", RINGING, {PHONE: P, "alice": P, "carol": Q}),
                    ("hang_up", "alice", "transferred"),
                    ("play", PHONE, "ringback"),
                    ("dial", "carol"),
                ],
            ),
            (
                reported("l-carol", "no-answer", 1, "timeout"),
                [
                    ("updated", RECALLING, {PHONE: P, "alice": P, "carol": "no-answer:timeout", "alice again": Q}),
                    ("play", PHONE, "recall"),
                    ("dial", "alice"),
                ],
            ),
            (
                reported("l-alice-2", P, 1),
                [
                    ("updated", "active", {PHONE: P, "alice": P, "carol": "no-answer:timeout", "alice again": P}),
                    ("play", PHONE, "the call"),
                ],
            ),
        ]
    )


def test_digits_pressed_on_the_page_go_to_the_telephones_on_the_call_only() -> None:
    report = Reports()
    phone_call = [
        (call(to=PHONE, telephones="sip"), [("updated", "active", {"alice": Q, PHONE: Q}), ("dial", "alice")]),
        (report("alice", P), [("updated", "active", {"alice": P, PHONE: Q}), ("dial", PHONE)]),
    ]
    replay(
        phone_call
        + [
            (press("1"), [("shown", "alice", "1")]),  # the telephone still rings: no tones, the key is shown
            (report("bob", P), [("updated", "active", {"alice": P, PHONE: P})]),
            (
                press("12#"),
                [("digits", PHONE, "12#"), ("shown", "alice", "1"), ("shown", "alice", "2"), ("shown", "alice", "#")],
            ),
            (press("5", by="carol"), [("refused", "not_on_call")]),
        ]
    )
    replay(connected_call(Reports()) + [(press("1"), [("shown", "alice", "1")])])  # browsers only: no tones

"""Replay logs of a blind transfer out of a call of more than two.

alice chairs a call with bob and dave and transfers bob to carol. bob's leg moves to a new
call (c-2), which he chairs: he hears ringback there while carol rings, and alice and dave
talk on in c-1 without him. If carol answers, bob and carol talk in c-2. If she does not,
bob's leg moves back to c-1: he hears a short tone and is on the call again.
"""

from __future__ import annotations

from tests.rules.replay import (
    CONFERENCE,
    NEW_CALL,
    Reports,
    add,
    hang_up,
    hold,
    replay,
    replay_calls,
    transfer,
)
from tests.rules.test_two_party import connected_call

Q, R, P = "queued", "ringing", "in-progress"
C1, C2 = CONFERENCE, NEW_CALL
RINGING = "active transfer to carol ringing"


def three_people(report: Reports) -> list:
    return connected_call(report) + [
        (add("dave"), [("updated", "active", {"alice": P, "bob": P, "dave": Q}), ("dial", "dave")]),
        (report("dave", P), [("updated", "active", {"alice": P, "bob": P, "dave": P})]),
    ]


def in_c1(log: list) -> list:
    """A single conference's log as steps of `replay_calls`."""
    return [(C1, given, [(C1, out) for out in expected]) for given, expected in log]


def transferred_out(report: Reports) -> list:
    return in_c1(three_people(report)) + [
        (
            C1,
            transfer("carol", party="bob"),
            [
                (C1, ("updated", "active", {"alice": P, "dave": P})),  # alice's page: bob has gone
                (C1, ("move", "bob", C2)),
                (C2, ("updated", RINGING, {"bob": P, "carol": Q})),
                (C2, ("play", "bob", "ringback")),
                (C2, ("dial", "carol")),
            ],
        ),
        (C2, report("carol", R, conference=C2), [(C2, ("updated", RINGING, {"bob": P, "carol": R}))]),
    ]


def test_bob_leaves_for_a_call_with_carol_and_alice_and_dave_talk_on() -> None:
    report = Reports()
    calls = replay_calls(
        transferred_out(report)
        + [
            (
                C2,
                report("carol", P, conference=C2),
                [(C2, ("updated", "active", {"bob": P, "carol": P})), (C2, ("play", "bob", "the call"))],
            ),
        ]
    )
    first, second = calls[C1], calls[C2]
    assert first.members() == ("alice", "dave") and second.members() == ("bob", "carol")
    assert second.chair.destination == "bob" and second.transfer is None
    # One leg id, live on one call: the new one.
    assert first.leg("l-callee").ended and not second.leg("l-callee").ended


def test_the_new_call_is_an_ordinary_call_of_two_and_the_first_goes_on_without_it() -> None:
    report = Reports()
    replay_calls(
        transferred_out(report)
        + [
            (C2, report("carol", P, conference=C2), None),
            (C2, hang_up("carol"), [(C2, ("hang_up", "carol", "hung-up"))]),
            (
                C2,
                report("carol", "completed", conference=C2),
                [
                    (C2, ("updated", "active", {"bob": P, "carol": "completed:hung-up"})),
                    (C2, ("hang_up", "bob", "ended")),
                ],
            ),
            # The provider still names the call bob's leg began on: c-1 hands the report on to c-2.
            (C1, report("bob", "completed"), [(C1, ("hand_on", "bob", "completed", C2))]),
            (
                C2,
                report("bob", "completed", conference=C2, sequence=report.sequence),
                [(C2, ("updated", "ended:hung-up", {"bob": "completed:ended", "carol": "completed:hung-up"}))],
            ),
            (C1, hang_up("dave"), [(C1, ("hang_up", "dave", "hung-up"))]),
        ]
    )


def test_carol_does_not_answer_so_bob_hears_the_tone_and_is_back_on_the_first_call() -> None:
    report = Reports()
    calls = replay_calls(
        transferred_out(report)
        + [
            (
                C2,
                report("carol", "no-answer", "timeout", conference=C2),
                [
                    (C2, ("updated", "ended:no-answer", {"carol": "no-answer:timeout"})),
                    (C2, ("move", "bob", C1)),
                    (C1, ("updated", "active", {"alice": P, "bob": P, "dave": P})),  # alice's page: bob is back
                    (C1, ("play", "bob", "returned")),
                ],
            ),
            # bob is on c-1 again: the provider's word about him that reaches c-2 goes there.
            (C2, report("bob", "completed", conference=C2), [(C2, ("hand_on", "bob", "completed", C1))]),
        ]
    )
    assert calls[C1].members() == ("alice", "bob", "dave") and calls[C2].ended


def test_the_first_call_ended_meanwhile_so_bob_coming_back_is_hung_up() -> None:
    report = Reports()
    replay_calls(
        transferred_out(report)
        + [
            (C1, hang_up("alice"), [(C1, ("hang_up", "alice", "hung-up"))]),
            (
                C1,
                report("alice", "completed"),
                [
                    (C1, ("updated", "active", {"alice": "completed:hung-up", "dave": P})),
                    (C1, ("hang_up", "dave", "ended")),
                ],
            ),
            (C1, report("dave", "completed"), None),
            (
                C2,
                report("carol", "busy", "rejected", conference=C2),
                [
                    (C2, ("updated", "ended:busy", {"carol": "busy:rejected"})),
                    (C2, ("move", "bob", C1)),
                    (C1, ("updated", "active", {"alice": "completed:hung-up", "bob": P, "dave": "completed:ended"})),
                    (C1, ("hang_up", "bob", "transfer-failed")),
                ],
            ),
        ]
    )


def test_bob_hangs_up_while_carol_rings_so_she_stops_ringing() -> None:
    report = Reports()
    replay_calls(
        transferred_out(report)
        + [
            (C1, report("bob", "completed", "hung-up"), [(C1, ("hand_on", "bob", "completed", C2))]),
            (
                C2,
                report("bob", "completed", "hung-up", conference=C2, sequence=report.sequence),
                [
                    (C2, ("updated", "active", {"bob": "completed:hung-up", "carol": R})),
                    (C2, ("hang_up", "carol", "caller-canceled")),
                ],
            ),
        ]
    )


def test_a_transfer_out_delivered_again_makes_no_second_call_even_after_bob_came_back() -> None:
    report = Reports()
    steps = transferred_out(report)
    again = (C1, transfer("carol", party="bob"), [])
    replay_calls(steps + [again])
    back = (C2, report("carol", "no-answer", conference=C2), None)
    replay_calls(transferred_out(Reports()) + [back, again])


def test_transfers_out_that_cannot_be_made_are_refused_and_change_nothing() -> None:
    report = Reports()
    steps = three_people(report)
    replay(
        steps
        + [
            (transfer("carol", by="bob", party="dave"), [("refused", "not_chair")]),
            (transfer("carol", party="alice"), [("refused", "not_on_call")]),
            (transfer("dave", party="bob"), [("refused", "already_in_conference")]),
            (transfer("bob", party="bob"), [("refused", "self_transfer")]),
            (transfer("not a name", party="bob"), [("refused", "invalid_destination")]),
            (transfer("+441234567890", party="bob"), [("refused", "no_telephones")]),
            # A shell that cannot move legs between calls: only a call of two transfers.
            (transfer("carol", party="bob", new_call=None), [("refused", "not_two_party")]),
        ]
    )
    replay(
        steps
        + [
            (hold("bob", by="alice"), None),
            (transfer("carol", party="bob"), [("refused", "party_on_hold")]),
        ]
    )
    ringing = connected_call(Reports()) + [
        (add("dave"), [("updated", "active", {"alice": P, "bob": P, "dave": Q}), ("dial", "dave")]),
    ]
    replay(ringing + [(transfer("carol", party="dave"), [("refused", "not_connected")])])
    # Of a call of two, moving the party out would leave the chair alone: that is the transfer of a call of two.
    replay(connected_call(Reports()) + [(transfer("carol", party="bob"), [("refused", "not_two_party")])])

"""Replay logs of recording a call and of voicemail: commands the provider carries out, decided here."""

from __future__ import annotations

from tests.rules.replay import Reports, add, call, complete_transfer, hang_up, hold, record, replay, transfer
from tests.rules.test_two_party import connected_call

Q, I, R, P = "queued", "initiated", "ringing", "in-progress"


def test_the_chair_records_and_stops_and_both_may_hear_it() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (
                record(),
                [
                    ("updated", "active recording call", {"alice": P, "bob": P}),
                    ("record", "call", "r-1", ("alice", "bob")),
                ],
            ),
            (record(), []),  # delivered again, or pressed twice: one recording
            (
                record(on=False),
                [
                    ("updated", "active", {"alice": P, "bob": P}),
                    ("stop_recording", "call", "r-1", ("alice", "bob")),
                ],
            ),
            (record(on=False), []),
        ]
    )


def test_only_the_chair_records() -> None:
    report = Reports()
    replay(connected_call(report) + [(record(by="bob"), [("refused", "not_chair")])])


def test_someone_added_while_it_records_may_hear_it_and_the_end_of_the_call_stops_it() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (
                record(),
                [
                    ("updated", "active recording call", {"alice": P, "bob": P}),
                    ("record", "call", "r-1", ("alice", "bob")),
                ],
            ),
            (
                add("carol"),
                [("updated", "active recording call", {"alice": P, "bob": P, "carol": Q}), ("dial", "carol")],
            ),
            (report("carol", P), [("updated", "active recording call", {"alice": P, "bob": P, "carol": P})]),
            (hang_up("alice"), [("hang_up", "alice", "hung-up")]),
            (
                report("alice", "completed"),
                [("updated", "active recording call", {"alice": "completed:hung-up", "bob": P, "carol": P})],
            ),
            (
                report("bob", "completed"),
                [
                    (
                        "updated",
                        "active recording call",
                        {"alice": "completed:hung-up", "bob": "completed", "carol": P},
                    ),
                    ("hang_up", "carol", "ended"),
                ],
            ),
            (
                report("carol", "completed"),
                [
                    (
                        "updated",
                        "ended:hung-up",
                        {"alice": "completed:hung-up", "bob": "completed", "carol": "completed:ended"},
                    ),
                    ("stop_recording", "call", "r-1", ("alice", "bob", "carol")),
                ],
            ),
        ]
    )


def test_a_call_not_yet_connected_cannot_be_recorded() -> None:
    replay(
        [
            (call(), [("updated", "active", {"alice": Q, "bob": Q}), ("dial", "alice")]),
            (record(), [("refused", "not_connected")]),
        ]
    )


def ringing(report: Reports) -> list:
    return [
        (call(voicemail=True), [("updated", "active", {"alice": Q, "bob": Q}), ("dial", "alice")]),
        (report("alice", P), [("updated", "active", {"alice": P, "bob": Q}), ("dial", "bob")]),
        (report("bob", R), [("updated", "active", {"alice": P, "bob": R})]),
    ]


def test_a_call_not_answered_goes_to_voicemail_until_the_caller_hangs_up() -> None:
    report = Reports()
    replay(
        ringing(report)
        + [
            (
                report("bob", "no-answer", "timeout"),
                [
                    ("updated", "active recording voicemail", {"alice": P, "bob": "no-answer:timeout"}),
                    ("record", "voicemail", "v-1", ("bob",)),
                ],
            ),
            (hang_up("alice"), [("hang_up", "alice", "hung-up")]),
            (
                report("alice", "completed"),
                [
                    ("updated", "ended:voicemail", {"alice": "completed:hung-up", "bob": "no-answer:timeout"}),
                    ("stop_recording", "voicemail", "v-1", ("bob",)),
                ],
            ),
        ]
    )


def test_a_rejected_call_goes_to_voicemail_and_a_caller_cut_off_by_its_cap_ends_it_too() -> None:
    report = Reports()
    replay(
        ringing(report)
        + [
            (
                report("bob", "busy", "rejected"),
                [
                    ("updated", "active recording voicemail", {"alice": P, "bob": "busy:rejected"}),
                    ("record", "voicemail", "v-1", ("bob",)),
                ],
            ),
            (
                report("alice", "completed", "voicemail-full"),
                [
                    ("updated", "ended:voicemail", {"alice": "completed:voicemail-full", "bob": "busy:rejected"}),
                    ("stop_recording", "voicemail", "v-1", ("bob",)),
                ],
            ),
        ]
    )


def test_someone_not_online_or_without_voicemail_ends_the_call_as_before() -> None:
    report = Reports()
    away = ringing(report)[:2] + [
        (
            report("bob", "failed", "unavailable"),
            [("updated", "active", {"alice": P, "bob": "failed:unavailable"}), ("hang_up", "alice", "ended")],
        )
    ]
    replay(away)
    report = Reports()
    replay(
        [
            (call(), [("updated", "active", {"alice": Q, "bob": Q}), ("dial", "alice")]),
            (report("alice", P), [("updated", "active", {"alice": P, "bob": Q}), ("dial", "bob")]),
            (
                report("bob", "no-answer", "timeout"),
                [("updated", "active", {"alice": P, "bob": "no-answer:timeout"}), ("hang_up", "alice", "ended")],
            ),
        ]
    )


def test_a_caller_who_gives_up_first_leaves_no_voicemail_and_recording_is_refused_while_one_is_left() -> None:
    report = Reports()
    replay(
        ringing(report)
        + [
            (hang_up("alice"), [("hang_up", "alice", "hung-up")]),
            (
                report("alice", "completed"),
                [
                    ("updated", "active", {"alice": "completed:hung-up", "bob": R}),
                    ("hang_up", "bob", "caller-canceled"),
                ],
            ),
            (
                report("bob", "canceled"),
                [("updated", "ended:canceled", {"alice": "completed:hung-up", "bob": "canceled:caller-canceled"})],
            ),
        ]
    )
    report = Reports()
    replay(
        ringing(report)
        + [
            (
                report("bob", "no-answer", "timeout"),
                [
                    ("updated", "active recording voicemail", {"alice": P, "bob": "no-answer:timeout"}),
                    ("record", "voicemail", "v-1", ("bob",)),
                ],
            ),
            (record(), []),
            (record(on=False), []),  # the chair cannot stop her own message being recorded, only hang up
        ]
    )


def test_in_a_conference_a_guest_who_does_not_answer_is_not_sent_to_voicemail() -> None:
    report = Reports()
    replay(
        ringing(report)
        + [
            (report("bob", P), [("updated", "active", {"alice": P, "bob": P})]),
            (add("carol"), [("updated", "active", {"alice": P, "bob": P, "carol": Q}), ("dial", "carol")]),
            (
                report("carol", "no-answer", "timeout"),
                [("updated", "active", {"alice": P, "bob": P, "carol": "no-answer:timeout"})],
            ),
        ]
    )


def test_no_one_is_added_to_a_call_that_is_leaving_a_message() -> None:
    report = Reports()
    replay(
        ringing(report)
        + [
            (
                report("bob", "no-answer", "timeout"),
                [
                    ("updated", "active recording voicemail", {"alice": P, "bob": "no-answer:timeout"}),
                    ("record", "voicemail", "v-1", ("bob",)),
                ],
            ),
            (add("carol"), [("refused", "leaving_voicemail")]),
        ]
    )


# --- where recording and voicemail meet hold, transfer, call waiting and do not disturb ---

MESSAGE = "active recording voicemail"
HELD = P + " held by the chair"


def connected_with_voicemail(report: Reports) -> list:
    return ringing(report) + [(report("bob", P), [("updated", "active", {"alice": P, "bob": P})])]


def test_a_call_to_someone_not_to_be_disturbed_goes_unrung_to_their_voicemail() -> None:
    report = Reports()
    replay(
        [
            (
                call(voicemail=True, dnd=True),
                [
                    ("updated", "active", {"alice": Q, "bob": "busy:dnd"}),
                    ("dial", "alice"),
                    ("not_disturbed", "alice", "bob"),  # in both histories, as a refused call would be
                ],
            ),
            (report("alice", R), [("updated", "active", {"alice": R, "bob": "busy:dnd"})]),
            (
                report("alice", P),
                [("updated", MESSAGE, {"alice": P, "bob": "busy:dnd"}), ("record", "voicemail", "v-1", ("bob",))],
            ),
            (hang_up("alice"), [("hang_up", "alice", "hung-up")]),
            (
                report("alice", "completed"),
                [
                    ("updated", "ended:voicemail", {"alice": "completed:hung-up", "bob": "busy:dnd"}),
                    ("stop_recording", "voicemail", "v-1", ("bob",)),
                ],
            ),
        ]
    )


def test_without_voicemail_a_call_to_someone_not_to_be_disturbed_is_refused() -> None:
    replay([(call(dnd=True), [("refused", "dnd"), ("not_disturbed", "alice", "bob")])])


def test_a_caller_who_gives_up_before_connecting_to_a_do_not_disturb_voicemail_leaves_none() -> None:
    report = Reports()
    replay(
        [
            (call(voicemail=True, dnd=True), None),
            (
                hang_up("alice"),
                [("updated", "active", {"alice": Q, "bob": "busy:dnd"}), ("hang_up", "alice", "hung-up")],
            ),
            (
                report("alice", "canceled"),
                [("updated", "ended:busy", {"alice": "canceled:hung-up", "bob": "busy:dnd"})],
            ),
        ]
    )


def test_someone_on_as_many_calls_as_they_may_be_is_busy_and_the_call_goes_to_voicemail() -> None:
    report = Reports()
    replay(
        ringing(report)[:2]
        + [
            (
                report("bob", "busy", "in-another-call"),
                [
                    ("updated", MESSAGE, {"alice": P, "bob": "busy:in-another-call"}),
                    ("record", "voicemail", "v-1", ("bob",)),
                ],
            )
        ]
    )


def test_a_transfer_target_who_does_not_answer_brings_the_recall_never_a_voicemail() -> None:
    report = Reports()
    gone = "completed:transferred"
    replay(
        connected_with_voicemail(report)
        + [
            (transfer("carol"), None),
            (report("alice", "completed", "ended"), None),
            (
                report("carol", "no-answer", "timeout"),
                [
                    (
                        "updated",
                        "active transfer to carol recalling",
                        {"alice": gone, "bob": P, "carol": "no-answer:timeout", "alice again": Q},
                    ),
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
                        {"alice": gone, "bob": P, "carol": "no-answer:timeout", "alice again": "no-answer:timeout"},
                    ),
                    ("hang_up", "bob", "transfer-failed"),
                ],
            ),
        ]
    )


def test_a_guest_added_to_an_answered_call_who_does_not_answer_leaves_no_voicemail_for_the_callee() -> None:
    report = Reports()
    replay(
        connected_with_voicemail(report)
        + [
            (add("carol"), None),
            (hang_up("bob"), None),
            (report("bob", "completed"), [("updated", "active", {"alice": P, "bob": "completed:hung-up", "carol": Q})]),
            (
                report("carol", "no-answer", "timeout"),
                [
                    ("updated", "active", {"alice": P, "bob": "completed:hung-up", "carol": "no-answer:timeout"}),
                    ("hang_up", "alice", "ended"),
                ],
            ),
        ]
    )


def test_a_blind_transfer_stops_the_recording_its_chair_started() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (record(), None),
            (
                transfer("carol"),
                [
                    ("updated", "active transfer to carol ringing", {"alice": P, "bob": P, "carol": Q}),
                    ("stop_recording", "call", "r-1", ("alice", "bob")),
                    ("hang_up", "alice", "transferred"),
                    ("play", "bob", "ringback"),
                    ("dial", "carol"),
                ],
            ),
            (record(by="bob", recording_id="r-2"), [("refused", "transfer_pending")]),
        ]
    )


def test_an_attended_transfer_stops_the_recording_its_chair_started() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (record(), None),
            (hold("bob", by="alice"), None),
            (add("carol"), None),
            (report("carol", P), None),
            (
                complete_transfer("bob", by="alice"),
                [
                    ("updated", "active", {"alice": P, "bob": P, "carol": P}),
                    ("stop_recording", "call", "r-1", ("alice", "bob", "carol")),
                    ("resume", "bob"),
                    ("hang_up", "alice", "transferred"),
                ],
            ),
        ]
    )


def test_someone_on_hold_is_out_of_the_recording_until_they_are_back() -> None:
    report = Reports()
    conference = replay(
        connected_call(report)
        + [
            (hold("bob", by="alice"), None),
            (
                record(),
                [
                    ("updated", "active recording call", {"alice": P, "bob": HELD}),
                    ("record", "call", "r-1", ("alice",)),
                ],
            ),
        ]
    )
    assert conference is not None and conference.taping is not None and conference.taping.owners == ("alice",)
    conference = replay(
        connected_call(Reports())
        + [(hold("bob", by="alice"), None), (record(), None), (hold("bob", "alice", False), None)]
    )
    assert conference is not None and conference.taping is not None and conference.taping.owners == ("alice", "bob")

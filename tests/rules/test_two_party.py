"""Replay logs of a browser calling a browser: one per outcome in issue 2."""

from __future__ import annotations

from talkbox.telephony.rules import DialLeg, HangUp, HangUpLeg, StartCall, decide
from tests.rules.replay import CONFERENCE, Reports, call, hang_up, replay

Q, I, R, P = "queued", "initiated", "ringing", "in-progress"


def connected_call(report: Reports) -> list:
    return [
        (call(), [("updated", "active", {"alice": Q, "bob": Q}), ("dial", "alice")]),
        (report("alice", I), [("updated", "active", {"alice": I, "bob": Q})]),
        (report("alice", R), [("updated", "active", {"alice": R, "bob": Q})]),
        # Only once the chair has joined is the other party dialled.
        (report("alice", P), [("updated", "active", {"alice": P, "bob": Q}), ("dial", "bob")]),
        (report("bob", I), [("updated", "active", {"alice": P, "bob": I})]),
        (report("bob", R), [("updated", "active", {"alice": P, "bob": R})]),
        (report("bob", P), [("updated", "active", {"alice": P, "bob": P})]),
    ]


def test_bob_hangs_up_first() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (hang_up("bob"), [("hang_up", "bob", "hung-up")]),
            (
                report("bob", "completed", "hung-up"),
                [("updated", "active", {"alice": P, "bob": "completed:hung-up"}), ("hang_up", "alice", "ended")],
            ),
            (
                report("alice", "completed", "ended"),
                [("updated", "ended:hung-up", {"alice": "completed:ended", "bob": "completed:hung-up"})],
            ),
        ]
    )


def test_alice_hangs_up_first() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (hang_up("alice"), [("hang_up", "alice", "hung-up")]),
            (
                report("alice", "completed", "hung-up"),
                [("updated", "active", {"alice": "completed:hung-up", "bob": P}), ("hang_up", "bob", "ended")],
            ),
            (
                report("bob", "completed", "ended"),
                [("updated", "ended:hung-up", {"alice": "completed:hung-up", "bob": "completed:ended"})],
            ),
        ]
    )


def ringing_call(report: Reports) -> list:
    return connected_call(report)[:-1]


def test_alice_cancels_while_it_rings() -> None:
    report = Reports()
    replay(
        ringing_call(report)
        + [
            (hang_up("alice"), [("hang_up", "alice", "hung-up")]),
            (
                report("alice", "completed", "hung-up"),
                [
                    ("updated", "active", {"alice": "completed:hung-up", "bob": R}),
                    ("hang_up", "bob", "caller-canceled"),
                ],
            ),
            (
                report("bob", "canceled", "caller-canceled"),
                [("updated", "ended:canceled", {"alice": "completed:hung-up", "bob": "canceled:caller-canceled"})],
            ),
        ]
    )


def test_bob_rejects_and_the_call_ends_busy() -> None:
    report = Reports()
    replay(
        ringing_call(report)
        + [
            (
                report("bob", "busy", "rejected"),
                [("updated", "active", {"alice": P, "bob": "busy:rejected"}), ("hang_up", "alice", "ended")],
            ),
            (
                report("alice", "completed", "ended"),
                [("updated", "ended:busy", {"alice": "completed:ended", "bob": "busy:rejected"})],
            ),
        ]
    )


def test_nobody_answers() -> None:
    report = Reports()
    replay(
        ringing_call(report)
        + [
            (
                report("bob", "no-answer", "timeout"),
                [("updated", "active", {"alice": P, "bob": "no-answer:timeout"}), ("hang_up", "alice", "ended")],
            ),
            (
                report("alice", "completed", "ended"),
                [("updated", "ended:no-answer", {"alice": "completed:ended", "bob": "no-answer:timeout"})],
            ),
        ]
    )


def test_bob_is_not_online() -> None:
    report = Reports()
    replay(
        connected_call(report)[:4]
        + [
            (report("bob", I), [("updated", "active", {"alice": P, "bob": I})]),
            (
                report("bob", "failed", "unavailable"),
                [("updated", "active", {"alice": P, "bob": "failed:unavailable"}), ("hang_up", "alice", "ended")],
            ),
            (
                report("alice", "completed", "ended"),
                [("updated", "ended:unavailable", {"alice": "completed:ended", "bob": "failed:unavailable"})],
            ),
        ]
    )


def test_chair_unreachable_means_bob_is_never_rung() -> None:
    report = Reports()
    replay(
        connected_call(report)[:3]
        + [
            (
                report("alice", "failed", "media"),
                [
                    (
                        "updated",
                        "ended:chair-unreachable",
                        {"alice": "failed:media", "bob": "canceled:chair-unreachable"},
                    )
                ],
            ),
            # Nothing that arrives after the end changes it.
            (report("alice", P), []),
        ]
    )


def test_alice_gives_up_before_her_own_leg_connects() -> None:
    report = Reports()
    replay(
        connected_call(report)[:2]
        + [
            (
                hang_up("alice"),
                [
                    ("updated", "active", {"alice": I, "bob": "canceled:caller-canceled"}),
                    ("hang_up", "alice", "hung-up"),
                ],
            ),
            (
                report("alice", "canceled", "hung-up"),
                [("updated", "ended:canceled", {"alice": "canceled:hung-up", "bob": "canceled:caller-canceled"})],
            ),
        ]
    )


def test_calls_that_are_refused() -> None:
    replay([(call("alice", "alice"), [("refused", "self_call")])])
    replay([(call("alice", ""), [("refused", "invalid_destination")])])
    replay([(call("alice", "bob smith<script>"), [("refused", "invalid_destination")])])
    replay([(call("alice", "x" * 65), [("refused", "invalid_destination")])])
    replay([(call("alice", "bob", caller_calls=3), [("refused", "too_many_calls")])])


def test_a_call_to_someone_not_to_be_disturbed_is_refused_and_kept_for_both_histories() -> None:
    dnd = StartCall(CONFERENCE, "l-alice", "l-callee", "alice", "bob", callee_dnd=True)
    replay([(dnd, [("refused", "dnd"), ("not_disturbed", "alice", "bob")])])
    # Their own mistakes are named first: do not disturb is no excuse for calling oneself.
    replay(
        [(StartCall(CONFERENCE, "l-alice", "l-callee", "alice", "alice", callee_dnd=True), [("refused", "self_call")])]
    )


def test_a_telephone_number_is_a_valid_destination() -> None:
    report = Reports()
    conference = replay(
        [
            (
                call("alice", "+441234567890", telephones="sip"),
                [("updated", "active", {"alice": Q, "+441234567890": Q}), ("dial", "alice")],
            ),
            (report("alice", P), [("updated", "active", {"alice": P, "+441234567890": Q}), ("dial", "+441234567890")]),
        ]
    )
    assert conference is not None
    assert [leg.kind for leg in conference.legs] == ["browser", "sip"]
    assert [leg.kind for leg in conference.view().legs] == ["browser", "sip"]


def test_a_number_is_refused_where_no_provider_reaches_telephones() -> None:
    replay([(call("alice", "+441234567890"), [("refused", "no_telephones")])])


def test_the_commands_for_a_telephone_leg_say_what_it_is() -> None:
    report = Reports()
    decision = decide(None, call("alice", "+441234567890", telephones="twilio"))
    assert decision.conference is not None
    connected = decide(decision.conference, report("alice", P))
    dial = next(c for c in connected.commands if isinstance(c, DialLeg))
    assert (dial.kind, dial.caller_kind) == ("twilio", "browser")
    ended = decide(connected.conference, HangUp("alice"))
    hang_up = next(c for c in ended.commands if isinstance(c, HangUpLeg))
    assert hang_up.kind == "browser"
    assert connected.conference is not None and connected.conference.members() == ("alice",)


def test_late_and_repeated_reports_change_nothing() -> None:
    report = Reports()
    log = connected_call(report)
    replay(
        log
        + [
            (report("bob", R, sequence=5), []),  # repeated
            (report("bob", R, sequence=2), []),  # late: older than what the leg has
            (
                report("bob", "completed", "hung-up"),
                [
                    ("updated", "active", {"alice": P, "bob": "completed:hung-up"}),
                    ("hang_up", "alice", "ended"),
                ],
            ),
            (report("bob", P), []),  # an ended leg never comes back to life
        ]
    )


def test_hang_up_by_someone_not_on_the_call_is_ignored() -> None:
    report = Reports()
    replay(connected_call(report) + [(hang_up("mallory"), [])])


def test_a_report_that_would_move_a_leg_back_changes_nothing_whatever_its_number() -> None:
    # Found by tests/rules/test_properties.py: a connected chair "ringing" again, then
    # "connecting" again, would have dialled the guests still queued a second time.
    report = Reports()
    replay(
        connected_call(report)
        + [
            (report("alice", R), []),
            (report("bob", I), []),
            (report("bob", "queued"), []),
            (
                report("bob", "completed", "hung-up"),
                [("updated", "active", {"alice": P, "bob": "completed:hung-up"}), ("hang_up", "alice", "ended")],
            ),
        ]
    )

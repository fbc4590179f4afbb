"""Replay logs of conferences: the original's three-person log and the controls of issue 3."""

from __future__ import annotations

from talkbox.telephony.rules import AddParticipant
from tests.rules.replay import Reports, add, call, hang_up, mute, mute_reported, rejoin, remove, replay
from tests.rules.test_two_party import connected_call

Q, I, R, P = "queued", "initiated", "ringing", "in-progress"


def three_people(report: Reports) -> list:
    return connected_call(report) + [
        (add("carol"), [("updated", "active", {"alice": P, "bob": P, "carol": Q}), ("dial", "carol")]),
        (report("carol", R), [("updated", "active", {"alice": P, "bob": P, "carol": R})]),
        (report("carol", P), [("updated", "active", {"alice": P, "bob": P, "carol": P})]),
    ]


def test_the_originals_three_person_log_chair_removes_then_is_left_alone() -> None:
    report = Reports()
    replay(
        three_people(report)
        + [
            (remove("bob"), [("hang_up", "bob", "removed")]),
            (
                report("bob", "completed", "removed"),
                [("updated", "active", {"alice": P, "bob": "completed:removed", "carol": P})],
            ),
            (hang_up("carol"), [("hang_up", "carol", "hung-up")]),
            (
                report("carol", "completed", "hung-up"),
                # The chair alone: her leg is hung up and the conference ends.
                [
                    ("updated", "active", {"alice": P, "bob": "completed:removed", "carol": "completed:hung-up"}),
                    ("hang_up", "alice", "ended"),
                ],
            ),
            (
                report("alice", "completed", "ended"),
                [
                    (
                        "updated",
                        "ended:hung-up",
                        {"alice": "completed:ended", "bob": "completed:removed", "carol": "completed:hung-up"},
                    )
                ],
            ),
        ]
    )


def test_chair_drops_the_rest_go_on_and_the_chair_rejoins() -> None:
    report = Reports()
    replay(
        three_people(report)
        + [
            (
                report("alice", "failed", "media"),
                [("updated", "active", {"alice": "failed:media", "bob": P, "carol": P})],
            ),
            (add("dave"), [("refused", "not_chair")]),  # a dropped chair can only rejoin
            (
                rejoin("alice"),
                [
                    ("updated", "active", {"alice": "failed:media", "bob": P, "carol": P, "alice again": Q}),
                    ("dial", "alice"),
                ],
            ),
            (
                report("alice again", P),
                [("updated", "active", {"alice": "failed:media", "bob": P, "carol": P, "alice again": P})],
            ),
            (
                add("dave"),
                [
                    ("updated", "active", {"alice": "failed:media", "bob": P, "carol": P, "alice again": P, "dave": Q}),
                    ("dial", "dave"),
                ],
            ),
        ]
    )


def test_when_the_chair_has_gone_and_one_other_is_left_the_call_ends() -> None:
    report = Reports()
    replay(
        three_people(report)
        + [
            (hang_up("alice"), [("hang_up", "alice", "hung-up")]),
            (
                report("alice", "completed", "hung-up"),
                [("updated", "active", {"alice": "completed:hung-up", "bob": P, "carol": P})],
            ),
            (hang_up("bob"), [("hang_up", "bob", "hung-up")]),
            (
                report("bob", "completed", "hung-up"),
                [
                    ("updated", "active", {"alice": "completed:hung-up", "bob": "completed:hung-up", "carol": P}),
                    ("hang_up", "carol", "ended"),
                ],
            ),
        ]
    )


def test_mute_yourself_or_as_chair_anyone_but_not_others_as_a_guest() -> None:
    report = Reports()
    replay(
        three_people(report)
        + [
            (
                mute("bob", by="bob"),
                [("updated", "active", {"alice": P, "bob": P + " muted", "carol": P}), ("mute", "bob")],
            ),
            (mute("bob", by="bob"), []),  # already muted
            (mute("alice", by="carol"), [("refused", "not_chair")]),
            (
                mute("carol", by="alice"),
                [("updated", "active", {"alice": P, "bob": P + " muted", "carol": P + " muted"}), ("mute", "carol")],
            ),
            (
                mute("bob", by="bob", muted=False),
                [("updated", "active", {"alice": P, "bob": P, "carol": P + " muted"}), ("unmute", "bob")],
            ),
        ]
    )


def test_a_mute_the_provider_could_not_apply_is_shown_as_the_provider_has_it() -> None:
    report = Reports()
    replay(
        three_people(report)
        + [
            (
                mute("bob", by="alice"),
                [("updated", "active", {"alice": P, "bob": P + " muted", "carol": P}), ("mute", "bob")],
            ),
            # Twilio refused it: bob is audible, so the pages show him unmuted, and nothing is asked again.
            (mute_reported("bob", muted=False), [("updated", "active", {"alice": P, "bob": P, "carol": P})]),
            (mute_reported("bob", muted=False), []),  # delivered again
            (mute_reported("dave", muted=True), []),  # no such leg
            (hang_up("carol"), [("hang_up", "carol", "hung-up")]),
            (
                report("carol", "completed"),
                [("updated", "active", {"alice": P, "bob": P, "carol": "completed:hung-up"})],
            ),
            (mute_reported("carol", muted=True), []),  # an ended leg stays as it ended
        ]
    )


def test_only_the_chair_adds_and_removes() -> None:
    report = Reports()
    replay(
        three_people(report)
        + [
            (add("dave", by="bob"), [("refused", "not_chair")]),
            (remove("carol", by="bob"), [("refused", "not_chair")]),
            (remove("alice", by="alice"), [("refused", "not_chair")]),  # the chair hangs up instead
        ]
    )


def test_adding_refuses_duplicates_bad_names_and_a_full_conference() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (add("bob"), [("refused", "already_in_conference")]),
            (add("alice"), [("refused", "already_in_conference")]),
            (add("not a name"), [("refused", "invalid_destination")]),
            (add("carol", limit=2), [("refused", "conference_full")]),
        ]
    )


def test_adding_someone_not_to_be_disturbed_is_refused_and_kept_for_their_history() -> None:
    report = Reports()
    not_to_disturb = AddParticipant("alice", "carol", "l-carol", 10, dnd=True)
    replay(connected_call(report) + [(not_to_disturb, [("refused", "dnd"), ("not_disturbed", "alice", "carol")])])


def test_the_chair_cancels_a_leg_still_ringing() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (add("carol"), [("updated", "active", {"alice": P, "bob": P, "carol": Q}), ("dial", "carol")]),
            (report("carol", R), [("updated", "active", {"alice": P, "bob": P, "carol": R})]),
            (remove("carol"), [("hang_up", "carol", "removed")]),
            (
                report("carol", "canceled", "removed"),
                [("updated", "active", {"alice": P, "bob": P, "carol": "canceled:removed"})],
            ),
        ]
    )


def test_someone_added_before_the_chair_connects_is_dialled_when_she_does() -> None:
    report = Reports()
    replay(
        [
            (call(), [("updated", "active", {"alice": Q, "bob": Q}), ("dial", "alice")]),
            (add("carol"), [("updated", "active", {"alice": Q, "bob": Q, "carol": Q})]),
            (
                report("alice", P),
                [("updated", "active", {"alice": P, "bob": Q, "carol": Q}), ("dial", "bob"), ("dial", "carol")],
            ),
        ]
    )


def test_a_ringing_guest_keeps_the_chair_company() -> None:
    report = Reports()
    replay(
        three_people(report)[:-1]
        + [
            (hang_up("bob"), [("hang_up", "bob", "hung-up")]),
            (
                report("bob", "completed", "hung-up"),
                [("updated", "active", {"alice": P, "bob": "completed:hung-up", "carol": R})],
            ),
            (
                report("carol", "no-answer", "timeout"),
                [
                    ("updated", "active", {"alice": P, "bob": "completed:hung-up", "carol": "no-answer:timeout"}),
                    ("hang_up", "alice", "ended"),
                ],
            ),
        ]
    )


# --- found by the properties (test_properties.py) ------------------------------------


def test_a_guest_still_being_dialled_is_not_dialled_again_when_the_chair_rejoins() -> None:
    report = Reports()
    replay(
        three_people(report)[:-2]  # carol dialled; the provider has not reported on her yet
        + [
            (
                report("alice", "failed", "media"),
                [("updated", "active", {"alice": "failed:media", "bob": P, "carol": Q})],
            ),
            (
                rejoin("alice"),
                [
                    ("updated", "active", {"alice": "failed:media", "bob": P, "carol": Q, "alice again": Q}),
                    ("dial", "alice"),
                ],
            ),
            (
                report("alice again", P),
                [("updated", "active", {"alice": "failed:media", "bob": P, "carol": Q, "alice again": P})],
            ),
            (
                report("carol", R),
                [("updated", "active", {"alice": "failed:media", "bob": P, "carol": R, "alice again": P})],
            ),
        ]
    )


def test_the_chair_removing_the_last_guest_before_she_connects_ends_the_call() -> None:
    report = Reports()
    replay(
        [
            (call(), [("updated", "active", {"alice": Q, "bob": Q}), ("dial", "alice")]),
            (report("alice", I), [("updated", "active", {"alice": I, "bob": Q})]),
            (
                remove("bob"),
                [
                    ("updated", "active", {"alice": I, "bob": "canceled:removed"}),
                    ("hang_up", "alice", "caller-canceled"),
                ],
            ),
            (
                report("alice", "canceled", "caller-canceled"),
                [("updated", "ended:canceled", {"alice": "canceled:caller-canceled", "bob": "canceled:removed"})],
            ),
        ]
    )


def test_a_call_an_add_or_a_rejoin_delivered_again_changes_nothing() -> None:
    report = Reports()
    gone = {"alice": "failed:media", "bob": P, "carol": P}
    replay(
        three_people(report)
        + [
            (call(), []),  # the conference exists: starting it again would bring ended legs back
            (add("dave"), [("updated", "active", {"alice": P, "bob": P, "carol": P, "dave": Q}), ("dial", "dave")]),
            (
                report("dave", "busy", "rejected"),
                [("updated", "active", {"alice": P, "bob": P, "carol": P, "dave": "busy:rejected"})],
            ),
            (add("dave"), []),  # the same leg id again, though dave has left: not a second leg of that id
            (
                report("alice", "failed", "media"),
                [("updated", "active", {"alice": "failed:media", "bob": P, "carol": P, "dave": "busy:rejected"})],
            ),
            (
                rejoin("alice"),
                [("updated", "active", {**gone, "dave": "busy:rejected", "alice again": Q}), ("dial", "alice")],
            ),
            (
                report("alice again", "failed", "media"),
                [("updated", "active", {**gone, "dave": "busy:rejected", "alice again": "failed:media"})],
            ),
            (rejoin("alice"), []),  # the same leg id again
        ]
    )


def test_the_chair_adds_a_telephone_which_is_a_sip_leg_and_refused_where_none_can_be_reached() -> None:
    from talkbox.telephony.rules import AddParticipant

    report = Reports()
    number = "+441234567890"
    log = connected_call(report) + [
        (
            AddParticipant("alice", number, "l-other", 10, "sip"),
            [("updated", "active", {"alice": P, "bob": P, number: "queued"}), ("dial", number)],
        ),
        (AddParticipant("alice", "+15551234567", "l-x", 10, None), [("refused", "no_telephones")]),
    ]
    conference = replay(log)
    assert conference is not None
    assert {leg.destination: leg.kind for leg in conference.legs} == {
        "alice": "browser",
        "bob": "browser",
        number: "sip",
    }

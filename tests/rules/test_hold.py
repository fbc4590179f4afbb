"""Replay logs of hold and resume, and of a user on two calls at once (call waiting)."""

from __future__ import annotations

from typing import Any

from talkbox.events.models import CallRefused
from talkbox.telephony.model import Conference, Leg
from talkbox.telephony.rules import Hold, Publish, RuleInput, decide, holds_elsewhere, started_talking
from tests.rules.replay import (
    Reports,
    add,
    call,
    complete_transfer,
    hang_up,
    hold,
    hold_failed,
    hold_reported,
    remove,
    replay,
)
from tests.rules.test_conference import three_people
from tests.rules.test_two_party import connected_call

P = "in-progress"


def test_the_chair_holds_bob_who_hears_music_and_resumes_him() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (
                hold("bob", by="alice"),
                [("updated", "active", {"alice": P, "bob": P + " held by the chair"}), ("hold", "bob", "music")],
            ),
            (hold("bob", by="alice"), []),  # held already: nothing new
            (hold("bob", by="alice", held=False), [("updated", "active", {"alice": P, "bob": P}), ("resume", "bob")]),
        ]
    )


def test_bob_holds_his_own_call_and_only_he_takes_it_off() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (
                hold("bob", by="bob"),
                [("updated", "active", {"alice": P, "bob": P + " held"}), ("hold", "bob", "silence")],
            ),
            # Bob is away on another call: the chair cannot bring him back into this one.
            (hold("bob", by="alice", held=False), [("refused", "held_by_self")]),
            (hold("bob", by="bob", held=False), [("updated", "active", {"alice": P, "bob": P}), ("resume", "bob")]),
        ]
    )


def test_only_the_chair_holds_others_and_takes_her_hold_off() -> None:
    report = Reports()
    replay(
        three_people(report)
        + [
            (hold("carol", by="bob"), [("refused", "not_chair")]),
            (
                hold("carol", by="alice"),
                [
                    ("updated", "active", {"alice": P, "bob": P, "carol": P + " held by the chair"}),
                    ("hold", "carol", "music"),
                ],
            ),
            (hold("carol", by="carol", held=False), [("refused", "not_chair")]),
            (hold("carol", by="bob", held=False), [("refused", "not_chair")]),
        ]
    )


def test_a_telephone_holds_itself_and_comes_back() -> None:
    report = Reports()
    replay(
        [
            (call("alice", "+15005550006", telephones="sip"), [
                ("updated", "active", {"alice": "queued", "+15005550006": "queued"}),
                ("dial", "alice"),
            ]),
            (report("alice", P), [
                ("updated", "active", {"alice": P, "+15005550006": "queued"}),
                ("dial", "+15005550006"),
            ]),
            (report("bob", P), [("updated", "active", {"alice": P, "+15005550006": P})]),
            (hold_reported("bob", True), [
                ("updated", "active", {"alice": P, "+15005550006": P + " held"}),
                ("hold", "+15005550006", "silence"),
            ]),
            (hold_reported("bob", True), []),
            (hold_reported("bob", False), [
                ("updated", "active", {"alice": P, "+15005550006": P}),
                ("resume", "+15005550006"),
            ]),
        ]
    )  # fmt: skip


def test_the_chairs_hold_outlasts_a_telephones_own() -> None:
    report = Reports()
    conference = replay(
        [
            (call("alice", "+15005550006", telephones="sip"), None),
            (report("alice", P), None),
            (report("bob", P), None),
            (hold("bob", by="alice"), None),
            (hold_reported("bob", False), []),  # the telephone came back; the chair has not
        ]
    )
    assert conference is not None and conference.leg("l-callee").held_by_chair


def test_a_hold_of_an_ended_leg_changes_nothing() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (hang_up("bob"), [("hang_up", "bob", "hung-up")]),
            (report("bob", "completed", "hung-up"), None),
            (hold("bob", by="alice"), []),
        ]
    )


def test_placing_a_call_has_no_limit_below_the_most_calls() -> None:
    replay(
        [
            (
                call("alice", "bob", caller_calls=2),
                [("updated", "active", {"alice": "queued", "bob": "queued"}), ("dial", "alice")],
            )
        ]
    )


# --- one user on two conferences ----------------------------------------------------


def _on(conference_id: str, *legs: Leg) -> Conference:
    return Conference(conference_id, legs[0].id, legs)


def test_answering_a_second_call_holds_the_first() -> None:
    first = _on("c-a", Leg("l-a1", "bob", status=P), Leg("l-a2", "alice", status=P))
    ringing = _on("c-b", Leg("l-b1", "carol", status=P), Leg("l-b2", "alice", status="ringing"))
    answered = _on("c-b", Leg("l-b1", "carol", status=P), Leg("l-b2", "alice", status=P))
    assert started_talking(ringing, answered) == ("alice",)
    assert holds_elsewhere("alice", "c-b", [first, answered]) == (("c-a", Hold("alice", "l-a2", held=True)),)


def test_resuming_one_call_holds_the_one_she_was_on() -> None:
    held = _on("c-a", Leg("l-a1", "bob", status=P), Leg("l-a2", "alice", status=P, held=True))
    resumed = _on("c-a", Leg("l-a1", "bob", status=P), Leg("l-a2", "alice", status=P))
    other = _on("c-b", Leg("l-b1", "carol", status=P), Leg("l-b2", "alice", status=P))
    assert started_talking(held, resumed) == ("alice",)
    assert holds_elsewhere("alice", "c-a", [resumed, other]) == (("c-b", Hold("alice", "l-b2", held=True)),)


def test_a_ringing_or_held_leg_elsewhere_is_left_as_it_is() -> None:
    talking = _on("c-a", Leg("l-a1", "bob", status=P), Leg("l-a2", "alice", status=P))
    ringing = _on("c-b", Leg("l-b1", "carol", status=P), Leg("l-b2", "alice", status="ringing"))
    held = _on("c-c", Leg("l-c1", "dave", status=P), Leg("l-c2", "alice", status=P, held=True))
    assert holds_elsewhere("alice", "c-a", [talking, ringing, held]) == ()
    assert started_talking(talking, talking) == ()


# --- attended transfer ----------------------------------------------------------------


def test_attended_transfer_bob_held_carol_added_the_chair_leaves_them_talking() -> None:
    report = Reports()
    conference = replay(
        connected_call(report)
        + [
            (hold("bob", by="alice"), None),
            (add("carol"), None),
            (report("carol", P), None),
            (complete_transfer("bob", by="carol"), [("refused", "not_chair")]),
            (
                complete_transfer("bob", by="alice"),
                [
                    ("updated", "active", {"alice": P, "bob": P, "carol": P}),
                    ("resume", "bob"),
                    ("hang_up", "alice", "transferred"),
                ],
            ),
            (
                report("alice", "completed"),
                [("updated", "active", {"alice": "completed:transferred", "bob": P, "carol": P})],
            ),
        ]
    )
    assert conference is not None and conference.chair.destination == "bob"
    assert conference.members() == ("bob", "carol")  # alice has gone: her page is idle


def test_a_transfer_needs_the_party_on_hold_and_someone_to_hand_them_to() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (complete_transfer("bob", by="alice"), [("refused", "not_held")]),
            (hold("bob", by="alice"), None),
            (complete_transfer("bob", by="alice"), [("refused", "nobody_to_transfer_to")]),
        ]
    )


def test_a_cancelled_transfer_is_the_consulted_party_removed_and_the_held_one_resumed() -> None:
    report = Reports()
    replay(
        connected_call(report)
        + [
            (hold("bob", by="alice"), None),
            (add("carol"), None),
            (report("carol", P), None),
            (remove("carol"), [("hang_up", "carol", "removed")]),
            (report("carol", "completed"), None),
            (hold("bob", by="alice", held=False), [("updated", "active", {
                "alice": P, "bob": P, "carol": "completed:removed",
            }), ("resume", "bob")]),
        ]
    )  # fmt: skip


def refused_to(log: list[tuple[RuleInput, list[tuple[Any, ...]] | None]]) -> list[tuple[str, str, str]]:
    """Who each refusal of the log's last step goes to, with its code and words."""
    conference = replay(log[:-1])
    decision = decide(conference, log[-1][0])
    return [
        (c.event.user, c.event.code, c.event.message)
        for c in decision.commands
        if isinstance(c, Publish) and isinstance(c.event, CallRefused)
    ]


def test_a_hold_the_provider_refuses_shows_bob_not_held_and_tells_the_chair() -> None:
    report = Reports()
    log = connected_call(report) + [
        (
            hold("bob", by="alice"),
            [("updated", "active", {"alice": P, "bob": P + " held by the chair"}), ("hold", "bob", "music")],
        ),
        (hold_failed("bob", held=False), [("updated", "active", {"alice": P, "bob": P}), ("refused", "hold_failed")]),
    ]
    replay(log)
    assert refused_to(log) == [("alice", "hold_failed", "Hold failed: bob could not be put on hold")]
    # A repeat of the report changes nothing, and the chair may try again.
    replay(
        log
        + [
            (hold_failed("bob", held=False), []),
            (
                hold("bob", by="alice"),
                [("updated", "active", {"alice": P, "bob": P + " held by the chair"}), ("hold", "bob", "music")],
            ),
        ]
    )


def test_taking_a_hold_off_that_the_provider_refuses_leaves_it_as_it_was_and_says_so() -> None:
    report = Reports()
    chairs = connected_call(report) + [
        (hold("bob", by="alice"), None),
        (hold("bob", by="alice", held=False), [("updated", "active", {"alice": P, "bob": P}), ("resume", "bob")]),
        (
            hold_failed("bob", held=True, by_chair=True),
            [("updated", "active", {"alice": P, "bob": P + " held by the chair"}), ("refused", "hold_failed")],
        ),
    ]
    replay(chairs)
    assert refused_to(chairs) == [("alice", "hold_failed", "Hold failed: bob could not be taken off hold")]
    own = Reports()
    bobs = connected_call(own) + [
        (hold("bob", by="bob"), None),
        (hold("bob", by="bob", held=False), None),
        (
            hold_failed("bob", held=True),
            [("updated", "active", {"alice": P, "bob": P + " held"}), ("refused", "hold_failed")],
        ),
    ]
    replay(bobs)
    assert refused_to(bobs) == [("bob", "hold_failed", "Hold failed: bob could not be taken off hold")]


def test_a_hold_report_for_a_leg_that_ended_changes_nothing() -> None:
    report = Reports()
    replay(
        three_people(report)
        + [
            (hold("carol", by="alice"), None),
            (remove("carol"), None),
            (report("carol", "completed"), None),
            (hold_failed("carol", held=False), []),
        ]
    )

"""Replay logs of a call from a telephone: it rings a group of clients, the first to answer takes it.

The phone's leg is the chair and is answered already (the webhook put it in the
conference). Reports are written the way the Twilio callbacks publish them: a
hang-up Talkbox asked for is still reported by Twilio as plain "completed" or
"canceled", and the rules keep the reason Talkbox gave.
"""

from __future__ import annotations

from talkbox.events.models import LegStatusChanged
from talkbox.telephony.rules import DialLeg, HangUp, HangUpLeg, IncomingCall, decide
from tests.rules.replay import replay

CONFERENCE = "c-CA1"
PHONE = "+441234567890"
LEGS = {PHONE: "l-CA1", "bob": "l-bob", "carol": "l-carol"}
R, P = "ringing", "in-progress"


def incoming(*ring: str) -> IncomingCall:
    return IncomingCall(
        CONFERENCE, LEGS[PHONE], PHONE, "CA1", tuple((LEGS.get(name, f"l-{name}"), name) for name in ring)
    )


def report(who: str, status: str, reason: str | None = None, *, sequence: int) -> LegStatusChanged:
    return LegStatusChanged(
        conference_id=CONFERENCE,
        leg_id=LEGS[who],
        status=status,
        sequence=sequence,
        reason=reason,  # type: ignore[arg-type]
    )


def both_ringing() -> list:
    return [
        (
            incoming("bob", "carol"),
            [("updated", "active", {PHONE: P, "bob": "queued", "carol": "queued"}), ("dial", "bob"), ("dial", "carol")],
        ),
        (report("bob", R, sequence=2), [("updated", "active", {PHONE: P, "bob": R, "carol": "queued"})]),
        (report("carol", R, sequence=2), [("updated", "active", {PHONE: P, "bob": R, "carol": R})]),
    ]


def test_the_first_to_answer_takes_the_call_and_the_others_stop_ringing() -> None:
    conference = replay(
        both_ringing()
        + [
            (
                report("bob", P, sequence=3),
                [("updated", "active", {PHONE: P, "bob": P, "carol": R}), ("hang_up", "carol", "answered-elsewhere")],
            ),
            # Twilio can only say "canceled"; the reason is the one Talkbox gave.
            (
                report("carol", "canceled", "caller-canceled", sequence=3),
                [("updated", "active", {PHONE: P, "bob": P, "carol": "canceled:answered-elsewhere"})],
            ),
            (report("carol", P, sequence=4), []),  # a late report about a leg that has ended
            (HangUp("bob"), [("hang_up", "bob", "hung-up")]),
            (
                report("bob", "completed", "hung-up", sequence=4),
                [
                    (
                        "updated",
                        "active",
                        {PHONE: P, "bob": "completed:hung-up", "carol": "canceled:answered-elsewhere"},
                    ),
                    ("hang_up", PHONE, "ended"),
                ],
            ),
            (
                report(PHONE, "completed", "hung-up", sequence=1),
                [
                    (
                        "updated",
                        "ended:hung-up",
                        {PHONE: "completed:ended", "bob": "completed:hung-up", "carol": "canceled:answered-elsewhere"},
                    )
                ],
            ),
        ]
    )
    assert conference is not None and conference.ring_group == ()
    assert conference.chair.provider_id == "CA1"


def test_a_second_answer_after_the_first_changes_nothing_but_its_leg() -> None:
    replay(
        both_ringing()
        + [
            (
                report("bob", P, sequence=3),
                [("updated", "active", {PHONE: P, "bob": P, "carol": R}), ("hang_up", "carol", "answered-elsewhere")],
            ),
            # Carol answered in the same instant: she is in the call until her cancel lands.
            (report("carol", P, sequence=3), [("updated", "active", {PHONE: P, "bob": P, "carol": P})]),
            (
                report("carol", "completed", "hung-up", sequence=4),
                [("updated", "active", {PHONE: P, "bob": P, "carol": "completed:answered-elsewhere"})],
            ),
        ]
    )


def test_the_phone_hangs_up_while_the_clients_ring() -> None:
    replay(
        both_ringing()
        + [
            (
                report(PHONE, "completed", "hung-up", sequence=1),
                [
                    ("updated", "active", {PHONE: "completed:hung-up", "bob": R, "carol": R}),
                    ("hang_up", "bob", "caller-canceled"),
                    ("hang_up", "carol", "caller-canceled"),
                ],
            ),
            (
                report("bob", "canceled", "caller-canceled", sequence=3),
                [("updated", "active", {PHONE: "completed:hung-up", "bob": "canceled:caller-canceled", "carol": R})],
            ),
            (
                report("carol", "canceled", "caller-canceled", sequence=3),
                [
                    (
                        "updated",
                        "ended:canceled",
                        {
                            PHONE: "completed:hung-up",
                            "bob": "canceled:caller-canceled",
                            "carol": "canceled:caller-canceled",
                        },
                    )
                ],
            ),
        ]
    )


def test_nobody_answers_so_the_phone_is_hung_up() -> None:
    replay(
        both_ringing()
        + [
            (
                report("bob", "busy", "rejected", sequence=3),
                [("updated", "active", {PHONE: P, "bob": "busy:rejected", "carol": R})],
            ),
            (
                report("carol", "no-answer", "timeout", sequence=3),
                [
                    ("updated", "active", {PHONE: P, "bob": "busy:rejected", "carol": "no-answer:timeout"}),
                    ("hang_up", PHONE, "ended"),
                ],
            ),
            (
                report(PHONE, "completed", "hung-up", sequence=1),
                [
                    (
                        "updated",
                        "ended:busy",
                        {PHONE: "completed:ended", "bob": "busy:rejected", "carol": "no-answer:timeout"},
                    )
                ],
            ),
        ]
    )


def test_the_phone_hangs_up_after_the_call_connected() -> None:
    replay(
        both_ringing()
        + [
            (
                report("bob", P, sequence=3),
                [("updated", "active", {PHONE: P, "bob": P, "carol": R}), ("hang_up", "carol", "answered-elsewhere")],
            ),
            (
                report(PHONE, "completed", "hung-up", sequence=1),
                [
                    ("updated", "active", {PHONE: "completed:hung-up", "bob": P, "carol": R}),
                    ("hang_up", "bob", "ended"),
                ],
            ),
        ]
    )


def test_with_nobody_to_ring_the_phone_is_hung_up_at_once() -> None:
    replay(
        [
            (incoming(), [("updated", "active", {PHONE: P}), ("hang_up", PHONE, "unavailable")]),
            (
                report(PHONE, "completed", "hung-up", sequence=1),
                [("updated", "ended:hung-up", {PHONE: "completed:unavailable"})],
            ),
        ]
    )


def test_a_repeated_webhook_and_bad_or_repeated_names_ring_nobody_twice() -> None:
    replay(
        [
            (
                incoming("bob", "bob", "not a name"),
                [("updated", "active", {PHONE: P, "bob": "queued"}), ("dial", "bob")],
            ),
            (incoming("bob", "carol"), []),
        ]
    )


def test_a_call_over_sip_is_a_sip_leg_and_its_ring_group_are_browsers() -> None:
    given = IncomingCall(CONFERENCE, LEGS[PHONE], PHONE, "call-id@trunk", (("l-bob", "bob"),), caller_kind="sip")
    decision = decide(None, given)
    assert decision.conference is not None
    assert [(leg.destination, leg.kind) for leg in decision.conference.legs] == [(PHONE, "sip"), ("bob", "browser")]
    dial = next(c for c in decision.commands if isinstance(c, DialLeg))
    assert (dial.destination, dial.kind, dial.caller, dial.caller_kind) == ("bob", "browser", PHONE, "sip")
    ringing = decide(decision.conference, report("bob", "ringing", sequence=2))
    # Only the browser is told of the call: a telephone has no page.
    assert ringing.conference is not None and ringing.conference.members() == ("bob",)
    hung_up = decide(ringing.conference, report(PHONE, "completed", sequence=2))
    stop = next(c for c in hung_up.commands if isinstance(c, HangUpLeg))
    assert (stop.leg_id, stop.kind, stop.reason) == ("l-bob", "browser", "caller-canceled")


def test_whoever_asked_not_to_be_disturbed_is_not_rung() -> None:
    given = IncomingCall(
        CONFERENCE, LEGS[PHONE], PHONE, "CA1", (("l-bob", "bob"), ("l-carol", "carol")), dnd=frozenset({"bob"})
    )
    replay([(given, [("updated", "active", {PHONE: P, "carol": "queued"}), ("dial", "carol")])])


def test_a_telephone_calling_only_people_not_to_be_disturbed_is_hung_up_at_once() -> None:
    given = IncomingCall(CONFERENCE, LEGS[PHONE], PHONE, "CA1", (("l-bob", "bob"),), dnd=frozenset({"bob"}))
    replay([(given, [("updated", "active", {PHONE: P}), ("hang_up", PHONE, "unavailable")])])

"""A leg given a sound (ringback while its transfer rings) hears it instead of the call, and is not heard."""

from __future__ import annotations

from talkbox.media.conference import ConferenceMedia
from talkbox.media.tones import FAILED, RINGBACK, sound
from tests.media.test_conference_media import Sent, Talker, run
from tests.support.audio import level_at

HEARD, UNHEARD = -30.0, -60.0


def test_a_leg_on_ringback_hears_ringback_not_the_call_and_the_others_do_not_hear_it() -> None:
    conference = ConferenceMedia("c")
    to_bob, to_carol = Sent(), Sent()
    bob, carol = Talker(660, 1), Talker(1000, 2)
    conference.add("bob", to_bob)
    conference.add("carol", to_carol)
    conference.play("bob", sound("ringback"))
    assert not conference.forwarding, "a leg hearing a sound must be mixed, not forwarded"
    run(conference, {"bob": bob, "carol": carol}, 50, 100.0)  # the first second: ringback is on
    heard_by_bob = to_bob.heard(last=40)
    assert all(level_at(heard_by_bob, f) > HEARD for f in RINGBACK)
    assert level_at(heard_by_bob, 1000) < UNHEARD
    assert level_at(to_carol.heard(last=40), 660) < UNHEARD


def test_taking_the_sound_away_puts_the_leg_back_in_the_call() -> None:
    conference = ConferenceMedia("c")
    to_bob, to_carol = Sent(), Sent()
    bob, carol = Talker(660, 1), Talker(1000, 2)
    conference.add("bob", to_bob)
    conference.add("carol", to_carol)
    conference.play("bob", sound("ringback"))
    now = run(conference, {"bob": bob, "carol": carol}, 25, 100.0)
    conference.play("bob", None)
    assert conference.forwarding
    run(conference, {"bob": bob, "carol": carol}, 50, now)
    assert level_at(to_bob.heard(last=40), 1000) > HEARD
    assert all(level_at(to_bob.heard(last=40), f) < UNHEARD for f in RINGBACK)
    assert level_at(to_carol.heard(last=40), 660) > HEARD


def test_the_recall_sound_is_the_failed_tone_then_ringback() -> None:
    conference = ConferenceMedia("c")
    to_bob = Sent()
    conference.add("bob", to_bob)  # alone: the transferor is being rung again
    conference.play("bob", sound("recall"))
    now = run(conference, {}, 50, 100.0)  # 1 s: the three steps of the information tone
    first = to_bob.heard(last=50)
    assert all(level_at(first, f) > HEARD - 10 for f in FAILED)
    assert all(level_at(first, f) < UNHEARD for f in RINGBACK)
    to_bob.packets.clear()
    run(conference, {}, 100, now)  # then a second of silence, and ringback
    assert all(level_at(to_bob.heard(last=40), f) > HEARD for f in RINGBACK)


def test_a_sound_waits_for_a_leg_without_an_endpoint_yet_and_goes_with_the_leg() -> None:
    conference = ConferenceMedia("c")
    conference.play("bob", sound("ringback"))
    to_bob = Sent()
    conference.add("bob", to_bob)
    run(conference, {}, 50, 100.0)
    assert all(level_at(to_bob.heard(last=40), f) > HEARD for f in RINGBACK)
    conference.remove("bob")
    assert conference.sounds == {}

"""Hold in the mixer, with synthetic streams: who hears the music on hold, who hears whom, and the switch."""

from __future__ import annotations

from talkbox.media import g711
from talkbox.media.conference import ConferenceMedia
from talkbox.media.music import CHORDS, PEDAL_HZ, loop
from tests.media.test_conference_media import Sent, Talker, continuous, run
from tests.media.test_conference_telephone import Line, Telephone
from tests.media.test_conference_telephone import run as run_with_phones
from tests.support.audio import level_at

ALICE_HZ, BOB_HZ, CAROL_HZ = 440.0, 700.0, 1000.0
HEARD, UNHEARD = -30.0, -55.0


def two(conference: ConferenceMedia) -> tuple[Sent, Sent, dict[str, Talker]]:
    to_alice, to_bob = Sent(), Sent()
    conference.add("alice", to_alice)
    conference.add("bob", to_bob)
    return to_alice, to_bob, {"alice": Talker(ALICE_HZ, 1), "bob": Talker(BOB_HZ, 2)}


def test_the_music_is_a_whole_number_of_frames_with_its_pedal_note_throughout() -> None:
    music = loop()
    assert len(music) % 960 == 0 and len(music) >= 4 * 48_000
    for second in range(len(music) // 48_000):
        window = music[second * 48_000 : (second + 1) * 48_000]
        assert level_at(window, PEDAL_HZ) > -40, f"the pedal note fades in second {second}"
        assert max(level_at(window, hz) for hz in (ALICE_HZ, BOB_HZ, CAROL_HZ)) < -70
    # A browser's analyser has 11.7 Hz bins: a note nearer a test tone than this reads as that tone there.
    notes = {note for chord in CHORDS for note in chord}
    assert min(abs(note - tone) for note in notes for tone in (ALICE_HZ, BOB_HZ, CAROL_HZ)) >= 48


def test_bob_held_by_the_chair_hears_the_music_and_alice_hears_neither_then_both_come_back() -> None:
    conference = ConferenceMedia("c")
    to_alice, to_bob, talkers = two(conference)
    now = run(conference, talkers, 30, 0.0)
    assert conference.forwarding

    conference.hold("bob", True, music=True)
    assert not conference.forwarding
    now = run(conference, talkers, 50, now)
    assert level_at(to_bob.heard(), PEDAL_HZ) > HEARD
    assert level_at(to_bob.heard(), ALICE_HZ) < UNHEARD, "a held leg hears the music, not the call"
    assert level_at(to_alice.heard(), BOB_HZ) < UNHEARD, "nobody hears a held leg"
    assert level_at(to_alice.heard(), PEDAL_HZ) < UNHEARD, "the chair who held him hears no music"
    assert continuous(to_bob.packets) and continuous(to_alice.packets), "the switch to the music jumps"

    conference.hold("bob", False, music=False)
    assert conference.forwarding
    run(conference, talkers, 50, now)
    assert level_at(to_bob.heard(), ALICE_HZ) > HEARD and level_at(to_alice.heard(), BOB_HZ) > HEARD
    assert level_at(to_bob.heard(), PEDAL_HZ) < UNHEARD
    assert continuous(to_bob.packets), "back to forwarding, the stream carries on"


def test_alice_away_on_another_call_hears_nothing_and_bob_left_alone_hears_the_music() -> None:
    conference = ConferenceMedia("c")
    to_alice, to_bob, talkers = two(conference)
    conference.hold("alice", True, music=False)
    run(conference, talkers, 50, 0.0)
    assert level_at(to_bob.heard(), PEDAL_HZ) > HEARD and level_at(to_bob.heard(), ALICE_HZ) < UNHEARD
    assert level_at(to_alice.heard(), PEDAL_HZ) < UNHEARD and level_at(to_alice.heard(), BOB_HZ) < UNHEARD


def test_in_a_conference_of_three_the_others_talk_on_without_the_held_one() -> None:
    conference = ConferenceMedia("c")
    to_alice, to_bob, talkers = two(conference)
    to_carol = Sent()
    conference.add("carol", to_carol)
    talkers["carol"] = Talker(CAROL_HZ, 3)
    conference.hold("carol", True, music=True)
    run(conference, talkers, 60, 0.0)
    for heard_by, other in ((to_alice, BOB_HZ), (to_bob, ALICE_HZ)):
        assert level_at(heard_by.heard(), other) > HEARD
        assert level_at(heard_by.heard(), CAROL_HZ) < UNHEARD and level_at(heard_by.heard(), PEDAL_HZ) < UNHEARD
    assert level_at(to_carol.heard(), PEDAL_HZ) > HEARD
    assert max(level_at(to_carol.heard(), hz) for hz in (ALICE_HZ, BOB_HZ)) < UNHEARD
    # Both held legs of the same kind get the same packet: the music is encoded once a tick.
    conference.hold("bob", True, music=True)
    run(conference, talkers, 10, 2.0)
    assert [p for p, _, _ in to_bob.packets[-5:]] == [p for p, _, _ in to_carol.packets[-5:]]


def test_a_hold_set_before_the_leg_has_media_applies_when_it_joins() -> None:
    conference = ConferenceMedia("c")
    conference.hold("bob", True, music=True)
    _to_alice, to_bob, talkers = two(conference)
    run(conference, talkers, 50, 0.0)
    assert level_at(to_bob.heard(), PEDAL_HZ) > HEARD
    conference.remove("bob")
    assert not conference.held


def test_a_held_telephone_hears_the_music_at_8_khz() -> None:
    conference = ConferenceMedia("c")
    to_alice, to_phone = Sent(), Line()
    conference.add("alice", to_alice)
    conference.add("phone", to_phone, telephone=True)
    conference.hold("phone", True, music=True)
    run_with_phones(conference, {"alice": Talker(ALICE_HZ, 1)}, {"phone": Telephone(CAROL_HZ)}, 60, 0.0)
    heard = to_phone.heard()
    assert level_at(heard, PEDAL_HZ, rate=g711.RATE) > HEARD
    assert level_at(heard, ALICE_HZ, rate=g711.RATE) < UNHEARD
    assert level_at(to_alice.heard(), CAROL_HZ) < UNHEARD

"""The mixer and forwarder with synthetic streams: what each leg is sent, packet by packet."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from talkbox.media import rtp
from talkbox.media.conference import ConferenceMedia
from talkbox.media.opus import FRAME_SAMPLES, Decoder, Encoder
from tests.support.audio import level_at

TICK = 0.02


@dataclass
class Sent:
    packets: list[tuple[bytes, int, int]] = field(default_factory=list)

    def __call__(self, payload: bytes, sequence: int, timestamp: int, _marker: bool) -> None:
        self.packets.append((payload, sequence, timestamp))

    def heard(self, last: int = 25) -> np.ndarray:
        decoder = Decoder()
        # The decoder's float32 at ±1, on the int16 scale level_at reads.
        return 32768 * np.concatenate([decoder.decode(payload) for payload, _, _ in self.packets[-last:]])


@dataclass
class Talker:
    """A page that sends a tone as Opus RTP, with the RFC 6464 level Chromium adds."""

    frequency: float
    ssrc: int
    level: int = 20  # -20 dBov: speech
    encoder: Encoder = field(default_factory=Encoder)
    sequence: int = 65_500  # wraps during the tests
    timestamp: int = 2**32 - 5 * FRAME_SAMPLES
    phase: int = 0

    def packet(self) -> rtp.RtpPacket:
        t = (self.phase + np.arange(FRAME_SAMPLES)) / 48_000
        self.phase += FRAME_SAMPLES
        pcm = (0.3 * 32767 * np.sin(2 * np.pi * self.frequency * t)).astype(np.int16)
        payload = self.encoder.encode(pcm)
        packet = rtp.RtpPacket(111, False, self.sequence, self.timestamp, self.ssrc, payload, self.level)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
        return packet


def run(conference: ConferenceMedia, talkers: dict[str, Talker], ticks: int, start: float) -> float:
    now = start
    for _ in range(ticks):
        for leg_id, talker in talkers.items():
            conference.receive(leg_id, talker.packet(), now)
        if not conference.forwarding:
            conference.tick(now + 0.001)
        now += TICK
    return now


def continuous(packets: list[tuple[bytes, int, int]]) -> bool:
    """Every packet one sequence number and one frame after the last: what a browser hears as seamless."""
    return all(
        (b[1] - a[1]) & 0xFFFF == 1 and (b[2] - a[2]) & 0xFFFFFFFF == FRAME_SAMPLES
        for a, b in zip(packets, packets[1:], strict=False)
    )


def test_two_are_forwarded_untouched_and_a_third_switches_to_mixing_seamlessly() -> None:
    conference = ConferenceMedia("c")
    to_alice, to_bob, to_carol = Sent(), Sent(), Sent()
    alice, bob, carol = Talker(440, 1), Talker(880, 2), Talker(660, 3)
    conference.add("alice", to_alice)
    conference.add("bob", to_bob)
    now = run(conference, {"alice": alice, "bob": bob}, 50, 100.0)
    assert conference.forwarding
    forwarded = len(to_bob.packets)
    assert forwarded == 50
    assert continuous(to_bob.packets)
    assert level_at(to_bob.heard(), 440) > -20

    conference.add("carol", to_carol)
    run(conference, {"alice": alice, "bob": bob, "carol": carol}, 50, now)
    assert not conference.forwarding
    assert continuous(to_bob.packets), "bob's stream jumps where mixing takes over"
    assert level_at(to_bob.heard(), 440) > -20 and level_at(to_bob.heard(), 660) > -20
    assert level_at(to_bob.heard(), 880) < -50  # never his own voice

    conference.remove("carol")
    run(conference, {"alice": alice, "bob": bob}, 30, now + 1.0)
    assert conference.forwarding
    assert continuous(to_bob.packets[: forwarded + 50]) and continuous(to_bob.packets[forwarded + 50 :])
    gap = (to_bob.packets[forwarded + 50][1] - to_bob.packets[forwarded + 49][1]) & 0xFFFF
    assert gap == 1, "back to forwarding, the numbering carries on"


def test_listeners_share_one_encode_and_a_speaker_gets_the_mix_without_themselves() -> None:
    conference = ConferenceMedia("c")
    sinks = {name: Sent() for name in ("alice", "bob", "carol", "dave")}
    for name, sink in sinks.items():
        conference.add(name, sink)
    talkers = {
        "alice": Talker(440, 1),
        "bob": Talker(880, 2, level=127),
        "carol": Talker(660, 3, level=127),
        "dave": Talker(550, 4, level=127),
    }
    run(conference, talkers, 60, 10.0)
    listeners = [sinks[name].packets[-20:] for name in ("bob", "carol", "dave")]
    assert [p for p, _, _ in listeners[0]] == [p for p, _, _ in listeners[1]] == [p for p, _, _ in listeners[2]]
    assert level_at(sinks["bob"].heard(), 440) > -20
    assert level_at(sinks["bob"].heard(), 880) < -50, "a silent leg's packets are not decoded into the mix"
    assert level_at(sinks["alice"].heard(), 440) < -50  # the speaker is not sent herself
    assert conference.speaking_now == frozenset({"alice"})


def test_mute_is_applied_on_the_server_and_switches_a_call_of_two_to_mixing() -> None:
    conference = ConferenceMedia("c")
    to_alice, to_bob = Sent(), Sent()
    alice, bob = Talker(440, 1), Talker(880, 2)
    conference.add("alice", to_alice)
    conference.add("bob", to_bob)
    now = run(conference, {"alice": alice, "bob": bob}, 30, 0.0)
    conference.mute("alice", True)
    assert not conference.forwarding
    now = run(conference, {"alice": alice, "bob": bob}, 50, now)
    assert level_at(to_bob.heard(), 440) < -60
    assert level_at(to_alice.heard(), 880) > -20  # she still hears bob
    conference.mute("alice", False)
    run(conference, {"alice": alice, "bob": bob}, 50, now)
    assert conference.forwarding
    assert level_at(to_bob.heard(), 440) > -20
    assert continuous(to_bob.packets)


def test_a_restarted_sender_is_forwarded_on_the_same_stream() -> None:
    """A reloaded page sends a new SSRC with new numbering: the other side's stream must not jump."""
    conference = ConferenceMedia("c")
    to_bob = Sent()
    conference.add("alice", Sent())
    conference.add("bob", to_bob)
    first, second = Talker(440, 1), Talker(440, 9, sequence=12, timestamp=777)
    now = run(conference, {"alice": first}, 20, 0.0)
    run(conference, {"alice": second}, 20, now)
    assert len(to_bob.packets) == 40
    assert continuous(to_bob.packets)

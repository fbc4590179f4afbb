"""Telephones in the mixer, with simulated time: what each browser and each telephone is sent."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from talkbox.media import rtp
from talkbox.media.conference import ConferenceMedia
from tests.media.test_conference_media import Sent, Talker
from tests.support.audio import level_at

TICK = 0.02
PHONE_HZ, ALICE_HZ, BOB_HZ = 1000.0, 440.0, 880.0
AMPLITUDE = 0.3 * 32767


@dataclass
class Telephone:
    """What a telephone's endpoint hands the conference: 20 ms of linear 8 kHz samples a packet."""

    frequency: float
    ssrc: int = 77
    sequence: int = 65_530
    timestamp: int = 2**32 - 480
    phase: int = 0

    def packet(self) -> rtp.RtpPacket:
        t = (self.phase + np.arange(160)) / 8000
        self.phase += 160
        samples = (AMPLITUDE * np.sin(2 * np.pi * self.frequency * t)).astype(np.int16)
        packet = rtp.RtpPacket(0, False, self.sequence, self.timestamp, self.ssrc, samples.tobytes())
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + 160) & 0xFFFFFFFF
        return packet


@dataclass
class Line:
    """What the conference sends a telephone: linear 8 kHz samples with their sequence number and timestamp."""

    packets: list[tuple[bytes, int, int]] = field(default_factory=list)

    def __call__(self, payload: bytes, sequence: int, timestamp: int, _marker: bool) -> None:
        self.packets.append((payload, sequence, timestamp))

    def heard(self, last: int = 25) -> np.ndarray:
        return np.concatenate([np.frombuffer(payload, dtype=np.int16) for payload, _, _ in self.packets[-last:]])


def run(
    conference: ConferenceMedia,
    browsers: dict[str, Talker],
    phones: dict[str, Telephone],
    ticks: int,
    now: float,
    lose_every: int = 0,
) -> float:
    for tick in range(ticks):
        for leg_id, talker in browsers.items():
            conference.receive(leg_id, talker.packet(), now)
        for leg_id, phone in phones.items():
            packet = phone.packet()
            if not lose_every or tick % lose_every:
                conference.receive(leg_id, packet, now)
        conference.tick(now + 0.001)
        now += TICK
    return now


def test_two_browsers_and_a_telephone_each_hear_the_other_two() -> None:
    conference = ConferenceMedia("c")
    to_alice, to_bob, to_phone = Sent(), Sent(), Line()
    conference.add("alice", to_alice)
    conference.add("bob", to_bob)
    conference.add("phone", to_phone, telephone=True)
    run(conference, {"alice": Talker(ALICE_HZ, 1), "bob": Talker(BOB_HZ, 2)}, {"phone": Telephone(PHONE_HZ)}, 60, 5.0)
    assert level_at(to_phone.heard(), ALICE_HZ, 8000) > -20 and level_at(to_phone.heard(), BOB_HZ, 8000) > -20
    assert level_at(to_phone.heard(), PHONE_HZ, 8000) < -50, "the telephone hears itself"
    assert level_at(to_alice.heard(), PHONE_HZ) > -20 and level_at(to_alice.heard(), BOB_HZ) > -20
    assert level_at(to_alice.heard(), ALICE_HZ) < -50
    assert conference.speaking_now == frozenset({"alice", "bob", "phone"}), "a telephone's speech is measured"
    # The telephone's own stream: one sequence number and 160 samples of its 8 kHz clock a tick.
    steps = {
        ((b[1] - a[1]) & 0xFFFF, (b[2] - a[2]) & 0xFFFFFFFF)
        for a, b in zip(to_phone.packets, to_phone.packets[1:], strict=False)
    }
    assert steps == {(1, 160)}
    assert {len(payload) for payload, _, _ in to_phone.packets} == {320}


def test_a_call_of_a_browser_and_a_telephone_is_mixed_and_a_call_of_two_browsers_forwarded() -> None:
    conference = ConferenceMedia("c")
    conference.add("alice", Sent())
    conference.add("phone", Line(), telephone=True)
    assert not conference.forwarding
    conference.remove("phone")
    conference.add("bob", Sent())
    assert conference.forwarding
    conference.add("phone", Line(), telephone=True)
    conference.remove("bob")
    assert not conference.forwarding and conference.lines == 1


def test_a_muted_telephone_is_left_out_of_the_mix_and_still_hears_it() -> None:
    conference = ConferenceMedia("c")
    to_alice, to_phone = Sent(), Line()
    conference.add("alice", to_alice)
    conference.add("phone", to_phone, telephone=True)
    alice, phone = Talker(ALICE_HZ, 1), Telephone(PHONE_HZ)
    conference.mute("phone", True)
    now = run(conference, {"alice": alice}, {"phone": phone}, 40, 0.0)
    assert level_at(to_alice.heard(), PHONE_HZ) < -60
    assert level_at(to_phone.heard(), ALICE_HZ, 8000) > -20
    conference.mute("phone", False)
    run(conference, {"alice": alice}, {"phone": phone}, 40, now)
    assert level_at(to_alice.heard(), PHONE_HZ) > -20


def test_a_lost_telephone_packet_is_bridged_by_its_predecessor_not_by_silence() -> None:
    conference = ConferenceMedia("c")
    to_alice = Sent()
    conference.add("alice", to_alice)
    conference.add("phone", Line(), telephone=True)
    run(conference, {"alice": Talker(ALICE_HZ, 1, level=127)}, {"phone": Telephone(PHONE_HZ)}, 100, 0.0, lose_every=7)
    assert conference.members["phone"].buffer.stats.concealed >= 10
    heard = to_alice.heard(last=60).astype(np.float64)[4800:]  # past the fresh decoder's own start
    # Every 10 ms of what the browser hears carries the tone: a silent 20 ms would leave a window near zero.
    windows = [np.sqrt(np.mean(heard[i : i + 480] ** 2)) for i in range(0, len(heard) - 480, 120)]
    assert min(windows) > 0.3 * AMPLITUDE / np.sqrt(2)

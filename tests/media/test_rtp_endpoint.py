"""Telephone legs on real UDP sockets: what a phone sends reaches the browsers' mix, and what it is sent is
G.711, RFC 4733 and RTCP a carrier accepts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from talkbox.media import dtmf, g711, rtcp, rtp
from talkbox.media.engine import MediaEngine, MediaSettings
from talkbox.media.rtp_endpoint import RtpEndpoint
from tests.media.test_conference_media import Sent, Talker
from tests.support.audio import level_at
from tests.support.phone import Phone, media_port, udp

FIXTURES = Path(__file__).parent / "fixtures"
PHONE_HZ, ALICE_HZ = 1000.0, 440.0
TICK = 0.02
SETTLE = 0.03  # for the last datagrams sent to land before anything is counted


@dataclass
class Heard:
    states: list[tuple[str, str]] = field(default_factory=list)
    digits: list[tuple[str, str, str]] = field(default_factory=list)


@asynccontextmanager
async def engine_and_phone(settings: MediaSettings | None = None) -> AsyncIterator[tuple[MediaEngine, Phone, Heard]]:
    heard = Heard()
    engine = MediaEngine(
        on_state=lambda leg, state: heard.states.append((leg, state)),
        on_dtmf=lambda conference, leg, digit: heard.digits.append((conference, leg, digit)),
        settings=settings or MediaSettings(),
    )
    phone = await Phone.open()
    try:
        yield engine, phone, heard
    finally:
        phone.close()
        await engine.close()


async def talk(
    engine: MediaEngine, packets: int, phone_send: Callable[[], None] | None, alice: Talker | None = None
) -> None:
    """Real time: the phone sends a packet every 20 ms while alice's page sends Opus into the conference.

    Paced from a deadline, as a phone's clock would: sleeping 20 ms after each packet makes a sender that runs
    slow, whose drift the jitter buffer rightly meets with delay and concealment."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for sent in range(1, packets + 1):
        if phone_send is not None:
            phone_send()
        if alice is not None:
            engine.conferences["c"].receive("alice", alice.packet(), loop.time())
        await asyncio.sleep(max(0.0, start + sent * TICK - loop.time()))
    await asyncio.sleep(SETTLE)


async def test_a_telephone_and_a_browser_hear_each_other_through_the_mix() -> None:
    async with engine_and_phone() as (engine, phone, heard):
        answer = await engine.rtp_answer("c", "phone", phone.description())
        to_alice = Sent()
        engine.conferences["c"].add("alice", to_alice)
        assert not engine.conferences["c"].forwarding, "Opus and G.711 cannot be forwarded: a call of two mixes"
        port = media_port(answer)
        await talk(engine, 75, lambda: phone.send(phone.tone_packet(PHONE_HZ), port), Talker(ALICE_HZ, 1))
        assert heard.states == [("phone", "connected")]
        member = engine.conferences["c"].members["phone"]
        why = f"{engine.legs['phone'].endpoint.counters} {member.buffer.stats} {member.loudness} {engine.late_ticks}"
        assert level_at(to_alice.heard(), PHONE_HZ) > -20, f"the browser does not hear the telephone: {why}"
        assert level_at(phone.heard(), ALICE_HZ, 8000) > -20, "the telephone does not hear the browser"
        assert level_at(phone.heard(), PHONE_HZ, 8000) < -40, "the telephone hears itself"
        sent = phone.packets()
        assert {p.payload_type for p in sent} == {0}  # PCMU, as the phone listed it first
        assert all((b.sequence - a.sequence) & 0xFFFF == 1 for a, b in zip(sent, sent[1:], strict=False))
        assert all(len(p.payload) == 160 for p in sent)


async def test_sipp_s_recorded_speech_reaches_the_browser_at_its_level() -> None:
    """sipp's own capture: PCMA in 30 ms packets, sent with the timing it was recorded with."""
    recorded = json.loads((FIXTURES / "sipp-g711a.json").read_text())
    packets = [bytes.fromhex(packet) for packet in recorded["rtp"]]
    async with engine_and_phone() as (engine, phone, heard):
        port = media_port(await engine.rtp_answer("c", "phone", phone.description("8 101")))
        to_alice = Sent()
        engine.conferences["c"].add("alice", to_alice)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for packet, at in zip(packets, recorded["at"], strict=True):
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            phone.send(packet, port)
        await asyncio.sleep(0.3)
        spoken = np.concatenate([g711.decode("PCMA", rtp.parse(packet).payload) for packet in packets])
        got = to_alice.heard(last=len(to_alice.packets))

        def db(samples: np.ndarray) -> float:
            return float(10 * np.log10(np.mean(samples.astype(np.float64) ** 2)))

        assert heard.states == [("phone", "connected")]
        assert len(to_alice.packets) >= 150, "every tick sends the browser a frame"
        assert abs(db(got) - db(spoken)) < 2.0, "speech arrives louder or quieter than it was spoken"
        assert engine.legs["phone"].endpoint.counters.malformed == 0


async def test_a_telephone_leg_is_muted_dropped_and_removed_like_a_browser_leg() -> None:
    async with engine_and_phone() as (engine, phone, _heard):
        port = media_port(await engine.rtp_answer("c", "phone", phone.description()))
        to_alice = Sent()
        engine.conferences["c"].add("alice", to_alice)
        engine.mute("c", "phone", True)
        await talk(engine, 30, lambda: phone.send(phone.tone_packet(PHONE_HZ), port), Talker(ALICE_HZ, 1))
        assert level_at(to_alice.heard(), PHONE_HZ) < -60, "a muted telephone is heard"
        engine.mute("c", "phone", False)
        await talk(engine, 30, lambda: phone.send(phone.tone_packet(PHONE_HZ), port), Talker(ALICE_HZ, 2))
        assert level_at(to_alice.heard(), PHONE_HZ) > -20
        await engine.drop("phone")
        assert "phone" in engine.conferences["c"].members, "dropped: the leg keeps its place for a new endpoint"
        before = len(phone.received)
        await talk(engine, 5, None)
        assert len(phone.received) == before, "a dropped endpoint still sends"
        await engine.remove("c", "phone")
        assert "phone" not in engine.conferences["c"].members
        rebound = await udp([], port)  # the port is free again
        rebound.close()


async def test_rtp_from_anywhere_but_the_address_in_the_sdp_is_dropped() -> None:
    async with engine_and_phone() as (engine, phone, heard):
        port = media_port(await engine.rtp_answer("c", "phone", phone.description()))
        to_alice = Sent()
        engine.conferences["c"].add("alice", to_alice)
        stranger = await udp([])
        try:
            await talk(engine, 40, lambda: stranger.sendto(phone.tone_packet(PHONE_HZ), ("127.0.0.1", port)))
        finally:
            stranger.close()
        assert engine.legs["phone"].endpoint.counters.strangers == 40
        assert heard.states == []
        assert level_at(to_alice.heard(), PHONE_HZ) < -60


async def test_with_latching_the_first_source_is_taken_and_answered() -> None:
    """A trunk behind NAT: its SDP names an address it does not send from."""
    async with engine_and_phone(MediaSettings(sip_latch=True)) as (engine, phone, heard):
        port = media_port(await engine.rtp_answer("c", "phone", phone.description()))
        engine.conferences["c"].add("alice", Sent())
        behind_nat: list[tuple[bytes, tuple[str, int]]] = []
        natted = await udp(behind_nat)
        intruder = await udp([])
        try:
            await talk(engine, 10, lambda: natted.sendto(phone.tone_packet(PHONE_HZ), ("127.0.0.1", port)))
            await talk(engine, 10, lambda: intruder.sendto(phone.tone_packet(PHONE_HZ), ("127.0.0.1", port)))
        finally:
            natted.close()
            intruder.close()
        assert heard.states == [("phone", "connected")]
        assert len(behind_nat) >= 10 and not phone.packets(), "the audio goes where the phone's packets come from"
        assert engine.legs["phone"].endpoint.counters.strangers == 10, "once latched, a second source is refused"


async def test_a_call_out_takes_the_latest_answer_early_media_then_the_200() -> None:
    async with engine_and_phone() as (engine, ringing, heard):
        offer = await engine.rtp_offer("c", "phone")
        assert "m=audio" in offer and "RTP/AVP 0 8 101" in offer
        port = media_port(offer)
        engine.conferences["c"].add("alice", Sent())
        alice = Talker(ALICE_HZ, 1)
        await engine.rtp_accept("phone", ringing.description("8 101"))  # 183 with early media
        await talk(engine, 10, lambda: ringing.send(ringing.tone_packet(PHONE_HZ, "PCMA"), port), alice)
        assert {p.payload_type for p in ringing.packets()} == {8}
        answered = await Phone.open()
        try:
            await engine.rtp_accept("phone", answered.description("0 101"))  # the 200, from another port
            await talk(engine, 25, lambda: answered.send(answered.tone_packet(PHONE_HZ), port), alice)
            assert {p.payload_type for p in answered.packets()} == {0}, "the codec of the latest answer"
            assert level_at(answered.heard(), ALICE_HZ, 8000) > -20
        finally:
            answered.close()
        assert heard.states == [("phone", "connected")]


async def test_an_offer_with_no_codec_in_common_is_refused_and_takes_no_port() -> None:
    async with engine_and_phone() as (engine, phone, _heard):
        with pytest.raises(ValueError, match="no codec in common"):
            await engine.rtp_answer("c", "phone", phone.description("18 101"))
        assert "phone" not in engine.legs


async def test_ports_come_from_the_configured_range_in_even_odd_pairs() -> None:
    async with engine_and_phone(MediaSettings(rtp_ports=(41000, 41009))) as (engine, phone, _heard):
        ports = [media_port(await engine.rtp_offer("c", f"leg-{n}")) for n in range(5)]
        assert sorted(ports) == [41000, 41002, 41004, 41006, 41008]
        with pytest.raises(OSError, match="no free pair"):
            await engine.rtp_offer("c", "one-too-many")
        await engine.drop(f"leg-{ports.index(41004)}")
        assert media_port(await engine.rtp_offer("c", "again")) == 41004, "a dropped leg gives its ports back"


def fixture_digits() -> dict[str, list[tuple[bytes, float]]]:
    recorded = json.loads((FIXTURES / "sipp-dtmf.json").read_text())["digits"]
    return {
        digit: [(bytes.fromhex(p), at) for p, at in zip(d["rtp"], d["at"], strict=True)]
        for digit, d in recorded.items()
    }


async def test_sipp_s_keypad_events_are_reported_once_each_in_order() -> None:
    async with engine_and_phone() as (engine, phone, heard):
        port = media_port(await engine.rtp_answer("c", "phone", phone.description()))
        loop = asyncio.get_running_loop()
        for _digit, packets in fixture_digits().items():
            start = loop.time()
            for packet, at in packets:  # each with its end packet three times
                await asyncio.sleep(max(0.0, start + at - loop.time()))
                phone.send(packet, port)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.05)
        assert heard.digits == [("c", "phone", "1"), ("c", "phone", "5"), ("c", "phone", "#"), ("c", "phone", "*")]


def test_a_digit_whose_end_packets_were_lost_is_reported_when_the_next_begins() -> None:
    receiver = dtmf.Receiver()
    assert receiver.take(dtmf.packet(7, False, 160), 1000) == []
    assert receiver.take(dtmf.packet(7, False, 320), 1000) == []
    assert receiver.take(dtmf.packet(2, False, 160), 5000) == ["7"]
    assert receiver.take(dtmf.packet(2, True, 800), 5000) == ["2"]
    assert receiver.take(dtmf.packet(2, True, 800), 5000) == []
    assert receiver.take(dtmf.packet(16, True, 800), 9000) == []  # a flash is not a digit
    assert receiver.take(b"\x01", 9999) == []


async def test_digits_sent_to_a_telephone_are_rfc_4733_events_in_the_audio_stream() -> None:
    async with engine_and_phone() as (engine, phone, _heard):
        port = media_port(await engine.rtp_answer("c", "phone", phone.description("8 101")))
        await talk(engine, 5, lambda: phone.send(phone.tone_packet(PHONE_HZ, "PCMA"), port))
        await engine.send_dtmf("phone", "1#")
        await talk(engine, 30, lambda: phone.send(phone.tone_packet(PHONE_HZ, "PCMA"), port))
        packets = phone.packets()
        assert all((b.sequence - a.sequence) & 0xFFFF == 1 for a, b in zip(packets, packets[1:], strict=False))
        events = [p for p in packets if p.payload_type == 101]
        assert {p.ssrc for p in packets} == {packets[0].ssrc}, "events share the audio's SSRC"
        by_start: dict[int, list[rtp.RtpPacket]] = {}
        for packet in events:
            by_start.setdefault(packet.timestamp, []).append(packet)
        assert len(by_start) == 2
        for (digit, event), run in zip(((1, "1"), (11, "#")), by_start.values(), strict=True):
            fields = [
                (p.payload[0], p.payload[1] & 0x80 != 0, p.payload[1] & 0x3F, p.payload[2] << 8 | p.payload[3])
                for p in run
            ]
            assert [f[0] for f in fields] == [digit] * 7, f"digit {event}"
            assert [f[1] for f in fields] == [False] * 4 + [True] * 3, "three end packets"
            assert [f[3] for f in fields] == [160, 320, 480, 640, 800, 800, 800]
            assert {f[2] for f in fields} == {dtmf.VOLUME}
            assert [p.marker for p in run] == [True] + [False] * 6
        first, second = by_start
        assert 0 < (second - first) & 0xFFFFFFFF <= 160 * 12, "the next digit follows after a short gap"
        with pytest.raises(ValueError, match="not keypad digits"):
            await engine.send_dtmf("phone", "1x")


async def test_digits_are_refused_for_a_telephone_that_takes_no_events() -> None:
    async with engine_and_phone() as (engine, phone, _heard):
        await engine.rtp_answer("c", "phone", phone.description("0"))
        with pytest.raises(ValueError, match="telephone-event"):
            await engine.send_dtmf("phone", "1")


@asynccontextmanager
async def endpoint_for(phone: Phone, silence: float = 0.3) -> AsyncIterator[tuple[RtpEndpoint, list[str]]]:
    states: list[str] = []
    endpoint = RtpEndpoint(
        on_packet=lambda _packet, _now: None,
        on_state=states.append,
        silence_is_loss=silence,
        rtcp_interval=0.1,
    )
    await endpoint.open()
    try:
        yield endpoint, states
    finally:
        await endpoint.close()


async def send_for(phone: Phone, port: int, packets: int, endpoint: RtpEndpoint | None = None) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for sent in range(1, packets + 1):
        phone.send(phone.tone_packet(PHONE_HZ), port)
        if endpoint is not None:
            endpoint.send(np.zeros(160, dtype=np.int16).tobytes(), 0, phone.timestamp)
        await asyncio.sleep(max(0.0, start + sent * TICK - loop.time()))
    await asyncio.sleep(SETTLE)


async def test_a_telephone_that_goes_silent_is_lost_and_comes_back() -> None:
    phone = await Phone.open()
    try:
        async with endpoint_for(phone) as (endpoint, states):
            endpoint.answer(phone.description())
            await send_for(phone, endpoint.port, 5)
            await asyncio.sleep(0.6)
            assert states == ["connected", "lost"]
            await send_for(phone, endpoint.port, 2)
            assert states == ["connected", "lost", "connected"]
    finally:
        phone.close()


@pytest.mark.parametrize(
    ("direction", "host", "answered"),
    [
        ("inactive", "127.0.0.1", "a=inactive"),
        ("sendonly", "127.0.0.1", "a=recvonly"),
        ("sendrecv", "0.0.0.0", "a=recvonly"),
    ],
)
async def test_on_hold_nothing_is_sent_and_silence_is_not_loss(direction: str, host: str, answered: str) -> None:
    phone = await Phone.open()
    try:
        async with endpoint_for(phone) as (endpoint, states):
            endpoint.answer(phone.description())
            await send_for(phone, endpoint.port, 5, endpoint)
            sent_before = len(phone.packets())
            assert sent_before == 5
            assert answered in endpoint.answer(phone.description(direction=direction, host=host)).splitlines()
            for _ in range(30):  # the mixer keeps ticking; the phone is quiet (or plays its hold music)
                endpoint.send(np.zeros(160, dtype=np.int16).tobytes(), 0, 0)
                await asyncio.sleep(TICK)
            assert len(phone.packets()) == sent_before, "audio was sent to a phone that holds the call"
            assert states == ["connected"], "a hold is not a lost telephone"
            endpoint.answer(phone.description())  # taken off hold
            await send_for(phone, endpoint.port, 3, endpoint)
            assert len(phone.packets()) == sent_before + 3
            await asyncio.sleep(0.6)
            assert states == ["connected", "lost"], "off hold, silence counts again"
    finally:
        phone.close()


async def test_rtcp_reports_go_to_the_next_port_and_any_rtcp_back_is_read_safely() -> None:
    phone = await Phone.open()
    chromium = json.loads((FIXTURES / "chromium-opus.json").read_text())
    try:
        async with endpoint_for(phone, silence=5.0) as (endpoint, states):
            endpoint.answer(phone.description())
            await send_for(phone, endpoint.port, 15, endpoint)
            reports = [rtcp.read(data, 0, 0.0) for data, _ in phone.rtcp_received]
            assert reports and all(r.sender_ntp is not None for r in reports), "no sender report reached port + 1"
            [(first, _)] = phone.rtcp_received[:1]
            assert int.from_bytes(first[4:8], "big") == endpoint.ssrc
            hostile = [bytes.fromhex(p) for p in chromium["rtcp"]] + [b"\x80\xc9", b"\x81\xc8\x00\xff" + b"\x00" * 8]
            hostile += [bytes(np.random.default_rng(7).integers(0, 256, size, dtype=np.uint8)) for size in range(64)]
            for data in hostile:
                phone.rtcp.sendto(data, ("127.0.0.1", endpoint.port + 1))
                phone.send(data if rtp.is_rtcp(data) else b"\x80\xc8" + data, endpoint.port)  # muxed, too
            await asyncio.sleep(1.0)  # that was a flood: the leg's packet budget fills again
            await send_for(phone, endpoint.port, 5, endpoint)
            assert states == ["connected"]
            assert endpoint.counters.received == 20, "the endpoint stopped taking audio"
    finally:
        phone.close()


async def test_rtcp_goes_to_the_rtp_port_when_the_telephone_muxes() -> None:
    phone = await Phone.open()
    try:
        async with endpoint_for(phone, silence=5.0) as (endpoint, _states):
            assert "a=rtcp-mux" in endpoint.answer(phone.description() + "a=rtcp-mux\r\n")
            await send_for(phone, endpoint.port, 15, endpoint)
            muxed = [data for data, _ in phone.received if rtp.is_rtcp(data)]
            assert muxed and rtcp.read(muxed[0], 0, 0.0).sender_ntp is not None
            assert not phone.rtcp_received
    finally:
        phone.close()


async def test_bound_to_every_interface_the_offer_names_a_real_address_not_a_hold() -> None:
    endpoint = RtpEndpoint(on_packet=lambda _packet, _now: None, on_state=lambda _state: None, host="0.0.0.0")
    await endpoint.open()
    try:
        [connection] = [line for line in endpoint.offer().splitlines() if line.startswith("c=")]
        assert connection != "c=IN IP4 0.0.0.0" and connection.startswith("c=IN IP4 ")
    finally:
        await endpoint.close()

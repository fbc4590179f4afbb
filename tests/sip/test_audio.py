"""Telephones and browsers hear each other through Talkbox: baresip as the telephone, aiortc as the page.

The SIP is Talkbox's (providers/sip), the RTP the media engine's (plain RTP, G.711,
mixed with the WebRTC legs), the telephone a real one from Debian.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from talkbox.providers.sip.settings import SipSettings
from tests.sip.baresip import PHONE_RATE, baresip
from tests.sip.sipp import scenario, sipp
from tests.sip.wire import request, wire_to
from tests.support.audio import level_at
from tests.support.peer import Peer
from tests.support.phone import Phone
from tests.support.server import running_app

PAGE_HZ, PHONE_HZ = 440.0, 1000.0


async def test_a_telephone_calls_a_page_and_each_hears_the_other(tmp_path: Path) -> None:
    sip = SipSettings(listen="udp:127.0.0.1:0", ring=("alice",), allow=["127.0.0.0/8"])
    async with (
        running_app(app_options={"sip": sip}, media_workers=0) as (url, app),
        Peer(url, "alice", PAGE_HZ) as alice,
    ):
        _, port = app.state.talkbox.sip.transports.local["udp"]
        async with baresip(tmp_path / "phone", PHONE_HZ, seconds=8, dial=f"sip:+15005550006@127.0.0.1:{port}") as phone:
            await alice.wait_for(lambda: alice.offers, timeout=10)
            assert next(iter(alice.offers.values()))["caller"] == "phone"
            await alice.accept()
            await alice.wait_for(lambda: alice.level(PHONE_HZ) > -30, timeout=10)
            assert alice.level(PAGE_HZ) < -50  # never her own voice
            # The telephone's file runs out: it hangs up.
            await alice.wait_for(lambda: alice.last_conference()["status"] == "ended", timeout=15)
        heard = phone.heard()
        assert len(heard) > PHONE_RATE, phone.log()
        assert level_at(heard[-4 * PHONE_RATE :], PAGE_HZ, rate=PHONE_RATE) > -30, phone.log()
        assert level_at(heard[-4 * PHONE_RATE :], PHONE_HZ, rate=PHONE_RATE) < -50
    legs = {leg["destination"]: (leg["status"], leg["end_reason"]) for leg in alice.last_conference()["legs"]}
    assert legs["phone"] == ("completed", "hung-up")


async def test_a_page_calls_a_telephone_through_the_trunk_and_each_hears_the_other(tmp_path: Path) -> None:
    async with baresip(tmp_path / "trunk", PHONE_HZ, seconds=60, user="+441234567890") as trunk:  # answers at once
        sip = SipSettings(listen="udp:127.0.0.1:0", trunk=f"sip:127.0.0.1:{trunk.port}")
        async with (
            running_app(app_options={"sip": sip}, media_workers=0) as (url, _app),
            Peer(url, "alice", PAGE_HZ) as alice,
        ):
            await alice.call("+441234567890")
            await alice.wait_for(lambda: alice.level(PHONE_HZ) > -30, timeout=15)
            assert alice.level(PAGE_HZ) < -50
            await asyncio.sleep(3)  # for the telephone to hear her: its recording is read once the call is over
            await alice.hang_up()
            await alice.wait_for(lambda: alice.last_conference()["status"] == "ended", timeout=10)
        await asyncio.sleep(0.5)  # the dump is closed when the call ends
        heard = trunk.heard()
        assert level_at(heard[-3 * PHONE_RATE :], PAGE_HZ, rate=PHONE_RATE) > -30, trunk.log()
        assert trunk.took_our_bye(), trunk.log()
    legs = {leg["destination"]: (leg["status"], leg["end_reason"]) for leg in alice.last_conference()["legs"]}
    assert legs["+441234567890"] == ("completed", "ended")


async def test_a_key_pressed_on_the_telephone_shows_on_the_page(tmp_path: Path) -> None:
    sip = SipSettings(listen="udp:127.0.0.1:0", ring=("alice",), allow=["127.0.0.0/8"])
    async with (
        running_app(app_options={"sip": sip}, media_workers=0) as (url, app),
        Peer(url, "alice", PAGE_HZ, auto_accept=True) as alice,
    ):
        host, port = app.state.talkbox.sip.transports.local["udp"]
        args = (f"{host}:{port}", "-sf", scenario("phone_presses_5.xml"), "-s", "+15005550006")
        async with sipp(*args, workdir=tmp_path) as phone:
            await alice.wait_for(lambda: any(m["type"] == "digit" for m in alice.messages), timeout=15)
            assert await phone.finished() == 0, phone.error_log()
    digits = [m for m in alice.messages if m["type"] == "digit"]
    phone_leg = next(leg["id"] for leg in alice.last_conference()["legs"] if leg["destination"] == "+15551234567")
    assert [(m["leg_id"], m["digit"]) for m in digits] == [(phone_leg, "5")]


async def test_two_pages_and_a_telephone_hear_each_other_and_the_chair_mutes_and_removes_it(tmp_path: Path) -> None:
    bob_hz = 660.0
    async with baresip(tmp_path / "trunk", PHONE_HZ, seconds=60, user="+441234567890") as trunk:
        sip = SipSettings(listen="udp:127.0.0.1:0", trunk=f"sip:127.0.0.1:{trunk.port}")
        # On a media worker process, as Talkbox runs by default.
        async with (
            running_app(app_options={"sip": sip}, media_workers=1) as (url, _app),
            Peer(url, "alice", PAGE_HZ) as alice,
            Peer(url, "bob", bob_hz, auto_accept=True) as bob,
        ):
            await alice.call("bob")
            await alice.wait_for(lambda: alice.level(bob_hz) > -30, timeout=15)
            await alice.add("+441234567890")
            await alice.wait_for(lambda: alice.level(PHONE_HZ) > -30, timeout=15)
            await bob.wait_for(lambda: bob.level(PHONE_HZ) > -30 and bob.level(PAGE_HZ) > -30, timeout=10)
            phone = next(leg for leg in alice.active_conference()["legs"] if leg["destination"] == "+441234567890")
            assert phone["kind"] == "sip"
            await asyncio.sleep(3)  # for the telephone to hear both of them (its recording is read at the end)
            await alice.mute("+441234567890")
            await bob.wait_for(lambda: bob.level(PHONE_HZ) < -50, timeout=10)
            assert bob.level(PAGE_HZ) > -30
            await alice.remove("+441234567890")
            await alice.wait_for(
                lambda: any(
                    leg["destination"] == "+441234567890" and leg["status"] == "completed"
                    for leg in alice.last_conference()["legs"]
                ),
                timeout=10,
            )
        await asyncio.sleep(0.5)
        heard = trunk.heard()
        assert level_at(heard[-3 * PHONE_RATE :], PAGE_HZ, rate=PHONE_RATE) > -35, trunk.log()
        assert level_at(heard[-3 * PHONE_RATE :], bob_hz, rate=PHONE_RATE) > -35
        assert level_at(heard[-3 * PHONE_RATE :], PHONE_HZ, rate=PHONE_RATE) < -45


async def test_a_telephone_that_goes_silent_without_a_bye_is_hung_up(tmp_path: Path) -> None:
    sip = SipSettings(listen="udp:127.0.0.1:0", ring=("alice",), allow=["127.0.0.0/8"])
    async with (
        running_app(app_options={"sip": sip}, media_workers=0) as (url, app),
        Peer(url, "alice", PAGE_HZ, auto_accept=True) as alice,
    ):
        phone = await Phone.open()
        try:
            async with wire_to(app.state.talkbox.sip.transports.local["udp"]) as signalling:
                invite = request("INVITE", signalling, branch="z9hG4bK-silent", user="+15005550006",
                                 extra="Content-Type: application/sdp")  # fmt: skip
                signalling.send(invite, phone.description("0 101"))
                ok = await signalling.next("SIP/2.0 200", timeout=10)
                to_tag = (ok.header("To") or "").split("tag=")[1]
                signalling.send(request("ACK", signalling, branch="z9hG4bK-silent-ack", to_tag=to_tag))
                port = int(ok.text.split("m=audio ")[1].split()[0])
                for _ in range(50):  # a second of tone, then the line goes dead
                    phone.send(phone.tone_packet(PHONE_HZ), port)
                    await asyncio.sleep(0.02)
                bye = await signalling.next("BYE", timeout=15)
                assert "call-1" in (bye.header("Call-ID") or "")
        finally:
            phone.close()
        await alice.wait_for(lambda: alice.last_conference()["status"] == "ended", timeout=5)
    legs = {leg["destination"]: (leg["status"], leg["end_reason"]) for leg in alice.last_conference()["legs"]}
    assert legs["+15551234567"] == ("completed", "lost")


async def test_keys_a_page_sends_reach_the_telephone_as_telephone_events(tmp_path: Path) -> None:
    sip = SipSettings(listen="udp:127.0.0.1:0", ring=("alice",), allow=["127.0.0.0/8"])
    async with (
        running_app(app_options={"sip": sip}, media_workers=0) as (url, app),
        Peer(url, "alice", PAGE_HZ, auto_accept=True) as alice,
    ):
        phone = await Phone.open()
        try:
            async with wire_to(app.state.talkbox.sip.transports.local["udp"]) as signalling:
                invite = request("INVITE", signalling, branch="z9hG4bK-keys", user="+15005550006",
                                 extra="Content-Type: application/sdp")  # fmt: skip
                signalling.send(invite, phone.description("0 101"))
                ok = await signalling.next("SIP/2.0 200", timeout=10)
                to_tag = (ok.header("To") or "").split("tag=")[1]
                signalling.send(request("ACK", signalling, branch="z9hG4bK-keys-ack", to_tag=to_tag))
                await alice.wait_for(lambda: alice.active_conference()["legs"][-1]["status"] == "in-progress")
                conference_id = alice.active_conference()["id"]
                await alice.send({"type": "dtmf", "conference_id": conference_id, "digits": "5#"})

                def events() -> list[int]:
                    ends = [p.payload for p in phone.packets() if p.payload_type == 101 and p.payload[1] & 0x80]
                    return list(dict.fromkeys(payload[0] for payload in ends))  # each end is sent three times

                await alice.wait_for(lambda: phone.received and events() == [5, 11], timeout=10)
        finally:
            phone.close()

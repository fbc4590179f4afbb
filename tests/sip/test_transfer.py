"""A telephone's call transferred from one page to another: the telephone hears ringback, then the new page.

baresip calls in and rings alice (aiortc), who takes it and transfers it to bob.
What the telephone heard is its own recording (sndfile), read once the call is over.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from talkbox.providers.sip.settings import SipSettings
from tests.sip.baresip import PHONE_RATE, baresip
from tests.support.audio import level_at
from tests.support.peer import Peer
from tests.support.server import running_app

ALICE_HZ, BOB_HZ, PHONE_HZ = 600.0, 700.0, 1000.0
RINGBACK_HZ = 480.0
HEARD, SILENT = -30.0, -50.0


def heard_in(samples: np.ndarray, frequency: float) -> float:
    return level_at(samples, frequency, rate=PHONE_RATE)


async def test_a_telephone_transferred_to_bob_hears_ringback_then_bob(tmp_path: Path) -> None:
    sip = SipSettings(listen="udp:127.0.0.1:0", ring=("alice",), allow=["127.0.0.0/8"])
    async with (
        running_app(app_options={"sip": sip}, media_workers=1) as (url, app),
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        _, port = app.state.talkbox.sip.transports.local["udp"]
        dial = f"sip:+15005550006@127.0.0.1:{port}"
        async with baresip(tmp_path / "phone", PHONE_HZ, seconds=60, dial=dial) as phone:
            await alice.wait_for(lambda: alice.offers, timeout=10)
            await alice.accept()
            await alice.wait_for(lambda: alice.level(PHONE_HZ) > HEARD, timeout=10)
            conference = alice.active_conference()
            assert conference["chair"] == "phone"
            # The call is the telephone's; alice took it, so she may hand it on.
            await alice.send({"type": "transfer", "conference_id": conference["id"], "to": "bob"})
            await bob.wait_for(lambda: bob.offers, timeout=10)
            assert next(iter(bob.offers.values()))["caller"] == "phone"
            await asyncio.sleep(2.5)  # the telephone hears ringback meanwhile (2 s on, 4 s off)
            await bob.accept()
            await bob.wait_for(lambda: bob.level(PHONE_HZ) > HEARD, timeout=10)
            await asyncio.sleep(3)
            await bob.hang_up()
            # The telephone, left alone, is hung up (BYE); its dump is closed when the call ends.
            async with asyncio.timeout(10):
                while not phone.took_our_bye():
                    await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            heard = phone.heard()
            assert len(heard) > 4 * PHONE_RATE, (len(heard), phone.log()[-1500:])
            assert heard_in(heard, RINGBACK_HZ) > HEARD, "no ringback while bob rang"
            end = heard[-2 * PHONE_RATE :]
            assert heard_in(end, BOB_HZ) > HEARD, phone.log()
            assert heard_in(end, ALICE_HZ) < SILENT and heard_in(end, RINGBACK_HZ) < SILENT
    legs = {leg["destination"]: leg["end_reason"] for leg in bob.last_conference()["legs"]}
    assert (legs["alice"], legs["bob"]) == ("transferred", "hung-up")


async def test_a_telephone_transferred_out_of_a_call_of_three_talks_to_carol_and_the_others_talk_on(
    tmp_path: Path,
) -> None:
    """alice chairs a call with bob and a telephone (through the trunk), and transfers the telephone to carol."""
    number = "+441234567890"
    carol_hz = 1300.0
    async with baresip(tmp_path / "trunk", PHONE_HZ, seconds=40, user=number) as trunk:
        sip = SipSettings(listen="udp:127.0.0.1:0", trunk=f"sip:127.0.0.1:{trunk.port}")
        async with (
            running_app(app_options={"sip": sip}, media_workers=1) as (url, _app),
            Peer(url, "alice", ALICE_HZ) as alice,
            Peer(url, "bob", BOB_HZ, auto_accept=True) as bob,
            Peer(url, "carol", carol_hz, auto_accept=True) as carol,
        ):
            await alice.call("bob")
            await alice.wait_for(lambda: alice.level(BOB_HZ) > HEARD, timeout=15)
            await alice.add(number)
            await bob.wait_for(lambda: bob.level(PHONE_HZ) > HEARD, timeout=15)
            first = alice.active_conference()
            phone = next(leg for leg in first["legs"] if leg["destination"] == number)
            await alice.send({"type": "transfer", "conference_id": first["id"], "to": "carol", "leg_id": phone["id"]})
            await carol.wait_for(lambda: carol.level(PHONE_HZ) > HEARD, timeout=15)
            bob.heard.clear()
            await bob.wait_for(lambda: len(bob.heard) >= 50 and bob.level(PHONE_HZ) < SILENT, timeout=10)
            assert bob.level(ALICE_HZ) > HEARD  # alice and bob talk on
            assert number not in {leg["destination"] for leg in alice.conferences[first["id"]]["legs"]}
            await asyncio.sleep(3)  # for the telephone to hear carol (its recording is read at the end)
            await carol.hang_up()
            async with asyncio.timeout(10):
                while not trunk.took_our_bye():
                    await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        heard = trunk.heard()
        last = heard[-2 * PHONE_RATE :]
        assert heard_in(last, carol_hz) > HEARD, trunk.log()[-1500:]
        assert heard_in(last, ALICE_HZ) < SILENT and heard_in(last, BOB_HZ) < SILENT

"""Keys pressed on a page reach a telephone as RFC 4733 events: baresip, answering as the trunk, logs each one
(with -v: "received event: '5' (end=1)")."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from talkbox.providers.sip.settings import SipSettings
from tests.sip.baresip import baresip
from tests.support.peer import Peer
from tests.support.server import running_app

PAGE_HZ, PHONE_HZ = 440.0, 1000.0


def received(log: str) -> str:
    return "".join(re.findall(r"received event: '(.)' \(end=1\)", log))


async def test_digits_from_the_page_reach_the_telephone_in_order_and_once(tmp_path: Path) -> None:
    async with baresip(tmp_path / "trunk", PHONE_HZ, seconds=60, user="+441234567890", verbose=True) as trunk:
        sip = SipSettings(listen="udp:127.0.0.1:0", trunk=f"sip:127.0.0.1:{trunk.port}")
        async with (
            running_app(app_options={"sip": sip}, media_workers=1) as (url, _app),
            Peer(url, "alice", PAGE_HZ) as alice,
        ):
            await alice.call("+441234567890")
            await alice.wait_for(lambda: alice.level(PHONE_HZ) > -30, timeout=15)
            conference_id = alice.active_conference()["id"]
            for digits in ("1", "2#", "*"):
                await alice.send({"type": "dtmf", "conference_id": conference_id, "digits": digits})
            async with asyncio.timeout(10):
                while received(trunk.log()) != "12#*":
                    await asyncio.sleep(0.1)
            await asyncio.sleep(1)  # nothing more arrives: each digit once
            assert received(trunk.log()) == "12#*", trunk.log()[-3000:]
            await alice.hang_up()

"""Speaking indicators: the pages of a call hear who is speaking, from the engine's levels, a few times a second."""

from __future__ import annotations

import time

from tests.support.peer import Peer
from tests.support.server import running_server

ALICE_HZ, BOB_HZ = 440.0, 880.0


def speaking(peer: Peer) -> list[dict]:
    return [m for m in peer.messages if m["type"] == "speaking"]


async def test_both_pages_hear_who_speaks_and_a_muted_leg_falls_silent() -> None:
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice, Peer(url, "bob", BOB_HZ) as bob:
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        await bob.accept()
        await alice.wait_for(lambda: alice.level(BOB_HZ) > -20)
        legs = {leg["destination"]: leg["id"] for leg in alice.active_conference()["legs"]}

        both = sorted(legs.values())
        for peer in (alice, bob):
            await peer.wait_for(lambda peer=peer: speaking(peer) and sorted(speaking(peer)[-1]["legs"]) == both)
            assert speaking(peer)[-1]["conference_id"] == alice.active_conference()["id"]

        await bob.mute("bob")
        await alice.wait_for(lambda: speaking(alice)[-1]["legs"] == [legs["alice"]])

        # Reports are of changes, at most four a second: a steady call sends almost none.
        count, started = len(speaking(alice)), time.monotonic()
        await alice.wait_for(lambda: time.monotonic() - started > 2.0, timeout=5)
        assert len(speaking(alice)) - count <= 8

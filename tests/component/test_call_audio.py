"""Two aiortc pages call each other through the built-in engine and hear each other."""

from __future__ import annotations

from tests.support.peer import Peer
from tests.support.server import running_server

ALICE_HZ, BOB_HZ = 440.0, 880.0


async def test_both_hear_the_other_and_never_themselves() -> None:
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice, Peer(url, "bob", BOB_HZ) as bob:
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        await bob.accept()
        await alice.wait_for(lambda: alice.level(BOB_HZ) > -20, timeout=10)
        await bob.wait_for(lambda: bob.level(ALICE_HZ) > -20, timeout=10)
        print(alice.level(ALICE_HZ), alice.level(BOB_HZ), bob.level(BOB_HZ), bob.level(ALICE_HZ))
        assert alice.level(ALICE_HZ) < -50
        assert bob.level(BOB_HZ) < -50
        await bob.hang_up()
        await alice.wait_for(lambda: alice.last_conference()["status"] == "ended")
        assert alice.last_conference()["end_reason"] == "hung-up"

"""Issue 10, item 4: a page that vanishes without hanging up must not leave its call live forever."""

from __future__ import annotations

from tests.support.peer import Peer
from tests.support.server import running_server


async def test_a_page_killed_mid_call_ends_its_leg_lost_and_the_other_side_sees_why() -> None:
    async with running_server(resume_grace=3.0) as url, Peer(url, "alice", 440.0) as alice:
        bob = await Peer(url, "bob", 880.0).__aenter__()
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        await bob.accept()
        await alice.wait_for(lambda: alice.level(880.0) > -35)
        # Gone as a killed tab goes: no hang-up, no DTLS close, its UDP socket simply shut.
        for pc in bob.pcs.values():
            pc.getTransceivers()[0].sender.transport.transport._connection._protocols[0].transport.close()
        await bob.socket.close()

        def bob_lost() -> bool:
            conference = alice.last_conference()
            leg = next(leg for leg in conference["legs"] if leg["destination"] == "bob")
            return leg["status"] == "failed" and leg["end_reason"] == "lost"

        await alice.wait_for(bob_lost, timeout=20)
        await alice.wait_for(lambda: alice.last_conference()["status"] == "ended")  # alone, alice is hung up
        for pc in bob.pcs.values():
            await pc.close()

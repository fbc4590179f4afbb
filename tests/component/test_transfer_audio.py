"""Blind transfer on the built-in engine with aiortc pages: who hears whom, and what the waiting party hears."""

from __future__ import annotations

from tests.support.peer import Peer, connect
from tests.support.server import running_server

ALICE_HZ, BOB_HZ, CAROL_HZ = 440.0, 880.0, 660.0
RINGBACK_HZ = 480.0  # with 440, which is alice's tone: 480 alone says ringback
FAILED_HZ = 1400.0  # the middle step of the failed-transfer tone
HEARD, SILENT = -30.0, -50.0


async def test_bob_hears_ringback_then_carol_and_alice_is_off_the_call_at_once() -> None:
    async with (
        running_server() as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "carol", CAROL_HZ) as carol,
    ):
        await connect(alice, bob)
        conference_id = alice.active_conference()["id"]
        await alice.send({"type": "transfer", "conference_id": conference_id, "to": "carol"})

        await alice.wait_for(lambda: alice.my_leg(alice.conferences[conference_id])["status"] == "completed")
        assert alice.my_leg(alice.conferences[conference_id])["end_reason"] == "transferred"
        await carol.wait_for(lambda: carol.offers)
        assert next(iter(carol.offers.values()))["caller"] == "bob"
        await bob.wait_for(lambda: bob.level(RINGBACK_HZ) > HEARD)
        assert bob.conferences[conference_id]["transfer"] == {"by": "alice", "to": "carol", "status": "ringing"}

        await carol.accept()
        await bob.wait_for(lambda: bob.level(CAROL_HZ) > HEARD)
        await carol.wait_for(lambda: carol.level(BOB_HZ) > HEARD)
        # Ringback (440 with 480, and 440 is alice's tone) goes; nothing of alice's comes through.
        await bob.wait_for(lambda: bob.level(RINGBACK_HZ) < SILENT and bob.level(ALICE_HZ) < SILENT)
        assert bob.conferences[conference_id]["chair"] == "bob"
        assert bob.conferences[conference_id]["transfer"] is None
        # alice was told her leg ended, and nothing after: carol's answer never reached her page.
        seen_by_alice = {leg["destination"]: leg["status"] for leg in alice.conferences[conference_id]["legs"]}
        assert seen_by_alice["carol"] != "in-progress"


async def test_carol_rejects_so_bob_hears_the_failed_tone_and_alice_is_rung_back() -> None:
    async with (
        running_server() as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "carol", CAROL_HZ) as carol,
    ):
        await connect(alice, bob)
        conference_id = alice.active_conference()["id"]
        await alice.send({"type": "transfer", "conference_id": conference_id, "to": "carol"})
        await carol.wait_for(lambda: carol.offers)
        await carol.reject()

        await bob.wait_for(lambda: bob.level(FAILED_HZ) > HEARD)
        await alice.wait_for(lambda: alice.offers)
        recall = next(iter(alice.offers.values()))
        assert recall["caller"] == "bob" and not recall["auto_answer"]
        await alice.accept()
        await bob.wait_for(lambda: bob.conferences[conference_id]["transfer"] is None)
        assert bob.conferences[conference_id]["chair"] == "alice"
        # alice's 440 Hz without ringback's 480: her voice, not the ringback.
        await bob.wait_for(lambda: bob.level(ALICE_HZ) > HEARD and bob.level(RINGBACK_HZ) < SILENT)
        await alice.wait_for(lambda: alice.level(BOB_HZ) > HEARD)


async def test_nobody_answers_the_recall_so_bob_s_call_ends_saying_why() -> None:
    async with (
        running_server(ring_timeout=1.5) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "carol", CAROL_HZ) as carol,
    ):
        await connect(alice, bob)
        conference_id = alice.active_conference()["id"]
        await alice.send({"type": "transfer", "conference_id": conference_id, "to": "carol"})
        await carol.wait_for(lambda: carol.offers)  # and lets it ring out
        await alice.wait_for(lambda: alice.offers)  # the recall, which rings out too
        await bob.wait_for(lambda: bob.conferences[conference_id]["status"] == "ended", timeout=15)
        ended = bob.conferences[conference_id]
        assert ended["end_reason"] == "transfer-failed"
        assert bob.my_leg(ended)["end_reason"] == "transfer-failed"
